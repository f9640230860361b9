"""The built-in AI providers, exposed through the plugin mechanism like connectors.
The protocol code lives in :mod:`engine.ai` (the engine's own tests and the assistant
use it); this module is what the manifest points at."""

from engine.ai.anthropic import AnthropicProvider
from engine.ai.gemini import GeminiProvider
from engine.ai.openai_compat import OpenAIProvider

__all__ = ["AnthropicProvider", "GeminiProvider", "OpenAIProvider"]
