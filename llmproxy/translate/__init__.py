"""Client formats <-> the canonical Claude Messages format, sans-IO.

Pure functions and small state machines over parsed JSON; nothing here imports
trio, anyio or httpx, and the clock is passed in. The routes do the I/O around
them.

Where things are::

    openai_request.py   Chat Completions request -> Messages request
                        (chat_to_messages), and back (messages_to_chat)
    openai_response.py  Messages answer -> chat.completion (chat_completion) or
                        chat.completion.chunk dicts (ChatStream), and back
                        (message_from_completion)
"""

from llmproxy.translate.openai_request import DEFAULT_MAX_TOKENS as DEFAULT_MAX_TOKENS
from llmproxy.translate.openai_request import IGNORED_FIELDS as IGNORED_FIELDS
from llmproxy.translate.openai_request import REJECTED_FIELDS as REJECTED_FIELDS
from llmproxy.translate.openai_request import Route as Route
from llmproxy.translate.openai_request import chat_to_messages as chat_to_messages
from llmproxy.translate.openai_request import messages_to_chat as messages_to_chat
from llmproxy.translate.openai_request import stream_include_usage as stream_include_usage
from llmproxy.translate.openai_response import THINK_CLOSE as THINK_CLOSE
from llmproxy.translate.openai_response import THINK_OPEN as THINK_OPEN
from llmproxy.translate.openai_response import ChatStream as ChatStream
from llmproxy.translate.openai_response import chat_completion as chat_completion
from llmproxy.translate.openai_response import error_chunk as error_chunk
from llmproxy.translate.openai_response import finish_reason as finish_reason
from llmproxy.translate.openai_response import message_from_completion as message_from_completion

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "IGNORED_FIELDS",
    "REJECTED_FIELDS",
    "THINK_CLOSE",
    "THINK_OPEN",
    "ChatStream",
    "Route",
    "chat_completion",
    "chat_to_messages",
    "error_chunk",
    "finish_reason",
    "message_from_completion",
    "messages_to_chat",
    "stream_include_usage",
]
