"""Claude, sans-IO: request rewrites for the Code route, the claude.ai web rules.

Pure functions over parsed JSON; nothing here imports trio, anyio or httpx, and the
environment is passed in. The upstream call, the credential lease and the response
relay belong to the route.

Where things are::

    models.py        model recognition (line, generation) and the per-model
                     request sanitising of ClewdR §9.1
    code_request.py  Claude Code identity: headers, beta merge, billing-header
                     system block, system rebuild, count_tokens body, sticky key,
                     the "Hi" connection test, body validation, trim_messages
    web_transcript.py  the claude.ai ``paste.txt`` transcript and its uploads
    web_stream.py    claude.ai's completion events -> canonical Messages events;
                     ``message_limit`` parsing
    web_account.py   a cookie's claude.ai account and the skip_* flag policy

Only the Code-route names are re-exported here; import the web modules directly.
"""

from llmproxy.claude.code_request import ANTHROPIC_VERSION as ANTHROPIC_VERSION
from llmproxy.claude.code_request import CLAUDE_CODE_VERSION as CLAUDE_CODE_VERSION
from llmproxy.claude.code_request import CONNECTION_TEST_REPLY as CONNECTION_TEST_REPLY
from llmproxy.claude.code_request import CONNECTION_TEST_REPLY_JSON as CONNECTION_TEST_REPLY_JSON
from llmproxy.claude.code_request import COUNT_TOKENS_PATH as COUNT_TOKENS_PATH
from llmproxy.claude.code_request import MESSAGES_PATH as MESSAGES_PATH
from llmproxy.claude.code_request import OAUTH_BETA as OAUTH_BETA
from llmproxy.claude.code_request import USER_AGENT as USER_AGENT
from llmproxy.claude.code_request import billing_block as billing_block
from llmproxy.claude.code_request import build_system as build_system
from llmproxy.claude.code_request import entrypoint_from_env as entrypoint_from_env
from llmproxy.claude.code_request import is_connection_test as is_connection_test
from llmproxy.claude.code_request import merge_betas as merge_betas
from llmproxy.claude.code_request import prepare_count_tokens_body as prepare_count_tokens_body
from llmproxy.claude.code_request import prepare_messages_body as prepare_messages_body
from llmproxy.claude.code_request import sticky_key as sticky_key
from llmproxy.claude.code_request import upstream_headers as upstream_headers
from llmproxy.claude.code_request import validate_messages_body as validate_messages_body
from llmproxy.claude.models import ModelTraits as ModelTraits
from llmproxy.claude.models import sanitize as sanitize
from llmproxy.claude.models import traits_of as traits_of

__all__ = [
    "ANTHROPIC_VERSION",
    "CLAUDE_CODE_VERSION",
    "CONNECTION_TEST_REPLY",
    "CONNECTION_TEST_REPLY_JSON",
    "COUNT_TOKENS_PATH",
    "MESSAGES_PATH",
    "OAUTH_BETA",
    "USER_AGENT",
    "ModelTraits",
    "billing_block",
    "build_system",
    "entrypoint_from_env",
    "is_connection_test",
    "merge_betas",
    "prepare_count_tokens_body",
    "prepare_messages_body",
    "sanitize",
    "sticky_key",
    "traits_of",
    "upstream_headers",
    "validate_messages_body",
]
