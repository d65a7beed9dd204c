"""Renders the chat-template cases with Python Jinja2 configured as HF transformers does.

Regenerate (Jinja2 3.1.x) from this directory:  python3 render_expected.py > expected.json
ChatTemplateTest renders every case with Jinjava and compares with these outputs.
"""
import json
import sys
from datetime import datetime
from pathlib import Path

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

# Fixed "now" for strftime_now; the Java test uses the same local time.
NOW = datetime(2024, 7, 26, 14, 5, 9)


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    # transformers replaces Jinja's HTML-escaping tojson with plain json.dumps
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(format):
    return NOW.strftime(format)


class AssistantTracker(Extension):
    """transformers' {% generation %} block, outside of assistant-mask tracking: renders its body."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    def _generation_support(self, caller):
        return caller()


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now

LLAMA3 = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
CHATML = {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
LLAMA2 = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

SYSTEM_USER = [{"role": "system", "content": "You are a terse assistant."}, {"role": "user", "content": "Hello!"}]
USER = [{"role": "user", "content": "What is 2+2?"}]
MULTI = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello! How can I help?"},
         {"role": "user", "content": "Tell me a joke."}]
SPACES = [{"role": "system", "content": "  Be brief.\n"}, {"role": "user", "content": "\n  spaced out  \n"},
          {"role": "assistant", "content": " answer with spaces "}, {"role": "user", "content": "next\t"}]
SPACES_NO_SYSTEM = SPACES[1:]
UNICODE = [{"role": "user", "content": "Grüße aus Zürich 👋 中文 — «ok»"}]
EMPTY = [{"role": "user", "content": ""}]
SAME_ROLE_TWICE = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
SYSTEM_FIRST = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]

TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
                                      "parameters": {"type": "object", "properties": {
                                          "city": {"type": "string", "description": "City name, e.g. Zürich"},
                                          "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                                                     "required": ["city"]}}},
    {"type": "function", "function": {"name": "add", "description": "Adds two numbers",
                                      "parameters": {"type": "object", "properties": {
                                          "a": {"type": "number"}, "b": {"type": "integer", "default": 0}},
                                                     "required": ["a"]}}},
]
TOOL_CONVERSATION = [
    {"role": "system", "content": "You can call tools."},
    {"role": "user", "content": "Weather in Paris and 2+3?"},
    {"role": "assistant", "content": "",
     "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}},
                    {"type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 3}}}]},
    {"role": "tool", "content": "{\"temperature\": 21, \"sky\": \"clear\"}"},
    {"role": "tool", "content": "5"},
    {"role": "assistant", "content": "It is 21 °C and clear; 2+3 = 5."},
    {"role": "user", "content": "Thanks!"},
]
TOOL_CALL_WITH_TEXT = [
    {"role": "user", "content": "Add 1.5 and 2"},
    {"role": "assistant", "content": "Let me add them.",
     "tool_calls": [{"type": "function", "function": {"name": "add", "arguments": {"a": 1.5, "b": 2}}}]},
]
LLAMA31_TOOL_CALL = [
    {"role": "user", "content": "Weather in Paris?"},
    {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
    {"role": "tool", "content": "21 degrees"},
    {"role": "ipython", "content": {"temperature": 21, "ok": True, "note": None}},
]
LLAMA31_BUILTIN = [
    {"role": "system", "content": "Use search."},
    {"role": "user", "content": "Who won?"},
    {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "brave_search", "arguments": {"query": "final score"}}}]},
]
LLAMA31_TWO_CALLS = [
    {"role": "user", "content": "x"},
    {"role": "assistant", "tool_calls": [{"function": {"name": "a", "arguments": {}}}, {"function": {"name": "b", "arguments": {}}}]},
]

MISTRAL_TOOL_CONVERSATION = [
    {"role": "system", "content": "You can call tools."},
    {"role": "user", "content": "Weather in Paris and 2+3?"},
    {"role": "assistant", "tool_calls": [
        {"id": "a1B2c3D4e", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}},
        {"id": "Zz9Yy8Xx7", "type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 3}}}]},
    {"role": "tool", "tool_call_id": "a1B2c3D4e", "content": "{\"temperature\": 21}"},
    {"role": "tool", "tool_call_id": "Zz9Yy8Xx7", "content": "5"},
    {"role": "assistant", "content": "It is 21 °C; 2+3 = 5."},
    {"role": "user", "content": "Thanks!"},
]
MISTRAL_OPENAI_IDS = [
    {"role": "user", "content": "Weather?"},
    {"role": "assistant", "tool_calls": [
        {"id": "call_abcdefghijklmnopqrstuvwx", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Bern"}}}]},
    {"role": "tool", "tool_call_id": "call_abcdefghijklmnopqrstuvwx", "content": "cold"},
]

CASES = []


def case(name, template, context, messages, gen):
    CASES.append({"name": name, "template": template, "context": context, "messages": messages,
                  "add_generation_prompt": gen})


for tpl, ctx in [("llama3-instruct.jinja", LLAMA3), ("qwen2-instruct.jinja", CHATML), ("zephyr.jinja", LLAMA2)]:
    stem = tpl.removesuffix(".jinja")
    case(stem + " system+user", tpl, ctx, SYSTEM_USER, True)
    case(stem + " user, no generation prompt", tpl, ctx, USER, False)
    case(stem + " multi-turn", tpl, ctx, MULTI, True)
    case(stem + " whitespace", tpl, ctx, SPACES, True)
    case(stem + " unicode", tpl, ctx, UNICODE, True)
    case(stem + " empty content", tpl, ctx, EMPTY, True)

case("qwen2.5 system+user", "qwen2.5-instruct.jinja", CHATML, SYSTEM_USER, True)
case("qwen2.5 default system", "qwen2.5-instruct.jinja", CHATML, MULTI, True)
case("qwen2.5 whitespace", "qwen2.5-instruct.jinja", CHATML, SPACES, False)
case("qwen2.5 tools", "qwen2.5-instruct.jinja", dict(CHATML, tools=TOOLS), SYSTEM_USER, True)
case("qwen2.5 tools, default system", "qwen2.5-instruct.jinja", dict(CHATML, tools=TOOLS), USER, True)
case("qwen2.5 tool calls and responses", "qwen2.5-instruct.jinja", dict(CHATML, tools=TOOLS), TOOL_CONVERSATION, True)
case("qwen2.5 tool call with text", "qwen2.5-instruct.jinja", CHATML, TOOL_CALL_WITH_TEXT, False)

case("mistral user", "mistral-instruct.jinja", LLAMA2, USER, True)
case("mistral multi-turn", "mistral-instruct.jinja", LLAMA2, MULTI, True)
case("mistral whitespace kept", "mistral-instruct.jinja", LLAMA2, SPACES_NO_SYSTEM, True)
case("mistral roles must alternate", "mistral-instruct.jinja", LLAMA2, SAME_ROLE_TWICE, True)
case("mistral no system role", "mistral-instruct.jinja", LLAMA2, SYSTEM_FIRST, True)

case("mistral v3 tools", "mistral-v3-tools.jinja", dict(LLAMA2, tools=TOOLS), SYSTEM_USER, True)
case("mistral v3 tool calls and results", "mistral-v3-tools.jinja", dict(LLAMA2, tools=TOOLS), MISTRAL_TOOL_CONVERSATION, True)
case("mistral v3 refuses OpenAI's call ids", "mistral-v3-tools.jinja", dict(LLAMA2, tools=TOOLS), MISTRAL_OPENAI_IDS, True)

case("llama2 system+user", "llama2-chat.jinja", LLAMA2, SYSTEM_USER, True)
case("llama2 user", "llama2-chat.jinja", LLAMA2, USER, False)
case("llama2 multi-turn", "llama2-chat.jinja", LLAMA2, MULTI, True)
case("llama2 whitespace stripped", "llama2-chat.jinja", LLAMA2, SPACES, True)
case("llama2 unicode", "llama2-chat.jinja", LLAMA2, UNICODE, True)
case("llama2 roles must alternate", "llama2-chat.jinja", LLAMA2, SAME_ROLE_TWICE, True)

case("llama3.1 system+user", "llama3.1-instruct.jinja", LLAMA3, SYSTEM_USER, True)
case("llama3.1 multi-turn", "llama3.1-instruct.jinja", LLAMA3, MULTI, True)
case("llama3.1 tools in user message", "llama3.1-instruct.jinja", dict(LLAMA3, tools=TOOLS), SYSTEM_USER, True)
case("llama3.1 tools in system message", "llama3.1-instruct.jinja",
     dict(LLAMA3, tools=TOOLS, tools_in_user_message=False, date_string="01 Jan 2025"), SYSTEM_USER, True)
case("llama3.1 tool call and responses", "llama3.1-instruct.jinja", LLAMA3, LLAMA31_TOOL_CALL, True)
case("llama3.1 builtin tool call", "llama3.1-instruct.jinja",
     dict(LLAMA3, builtin_tools=["brave_search", "wolfram_alpha", "code_interpreter"]), LLAMA31_BUILTIN, False)
case("llama3.1 one tool call at a time", "llama3.1-instruct.jinja", LLAMA3, LLAMA31_TWO_CALLS, True)
case("llama3.1 tools need a user message", "llama3.1-instruct.jinja", dict(LLAMA3, tools=TOOLS),
     [{"role": "system", "content": "only a system message"}], True)

QWEN3_THINKING = [
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "<think>\nAdd them.\n</think>\n\n4."},
    {"role": "user", "content": "And 3+3?"},
    {"role": "assistant", "content": "<think>\nAgain.\n</think>\n\n6."},
]
QWEN3_REASONING_FIELD = [
    {"role": "system", "content": "Think briefly."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!", "reasoning_content": "A greeting."},
]
case("qwen3 system+user", "qwen3.jinja", CHATML, SYSTEM_USER, True)
case("qwen3 thinking off", "qwen3.jinja", dict(CHATML, enable_thinking=False), USER, True)
case("qwen3 thinking on", "qwen3.jinja", dict(CHATML, enable_thinking=True), MULTI, True)
case("qwen3 earlier reasoning dropped, last kept", "qwen3.jinja", CHATML, QWEN3_THINKING, False)
case("qwen3 reasoning_content field", "qwen3.jinja", CHATML, QWEN3_REASONING_FIELD, False)
case("qwen3 tools", "qwen3.jinja", dict(CHATML, tools=TOOLS), SYSTEM_USER, True)
case("qwen3 tool calls and responses", "qwen3.jinja", dict(CHATML, tools=TOOLS), TOOL_CONVERSATION, True)
case("qwen3 unicode and whitespace", "qwen3.jinja", CHATML, UNICODE + SPACES[2:], True)

GEMMA = {"bos_token": "<bos>", "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>"}
case("gemma3 system folded into the first user turn", "gemma3-instruct.jinja", GEMMA, SYSTEM_USER, True)
case("gemma3 user, no generation prompt", "gemma3-instruct.jinja", GEMMA, USER, False)
case("gemma3 multi-turn, assistant written model", "gemma3-instruct.jinja", GEMMA, MULTI, True)
case("gemma3 whitespace trimmed", "gemma3-instruct.jinja", GEMMA, SPACES, True)
case("gemma3 unicode", "gemma3-instruct.jinja", GEMMA, UNICODE, True)
case("gemma3 empty content", "gemma3-instruct.jinja", GEMMA, EMPTY, True)
case("gemma3 roles must alternate", "gemma3-instruct.jinja", GEMMA, SAME_ROLE_TWICE, True)
case("gemma3 system then assistant first", "gemma3-instruct.jinja", GEMMA,
     [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}], True)

case("python bridges", "python-bridges.jinja", LLAMA3, SYSTEM_USER + MULTI, True)

case("llama3.2 date from strftime_now", "llama3.2-date-header.jinja", LLAMA3, SYSTEM_USER, True)

here = Path(__file__).parent
for c in CASES:
    template = env.from_string((here / c["template"]).read_text(encoding="utf-8"))
    try:
        c["expected"] = template.render(messages=c["messages"], add_generation_prompt=c["add_generation_prompt"], **c["context"])
    except jinja2.exceptions.TemplateError as e:
        c["error"] = str(e)

json.dump({"generator": "render_expected.py, Jinja2 " + jinja2.__version__, "now": NOW.isoformat(), "cases": CASES},
          sys.stdout, ensure_ascii=False, indent=1)
sys.stdout.write("\n")
