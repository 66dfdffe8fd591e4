"""`tierwise chat STACK "prompt"`: ask the model a deployed stack serves (tierwise.client)."""

from __future__ import annotations

import sys
from typing import Any

import typer

from tierwise.errors import TierwiseError
from tierwise.help import Command


def chat(
    stack: str = typer.Argument(..., help="the deployed stack's name, e.g. tierwise-llama3-8b"),
    prompt: str = typer.Argument(..., help="what to ask the model"),
    system: str = typer.Option(None, "--system", help="a system message before the prompt"),
    max_tokens: int = typer.Option(256, "--max-tokens", min=1, help="most tokens to generate"),
    temperature: float = typer.Option(None, "--temperature", min=0.0, max=2.0, help="sampling temperature, 0..2"),
    stream: bool = typer.Option(True, "--stream/--no-stream", help="print tokens as they arrive"),
    region: str = typer.Option(None, "--region", help="the stack's AWS region (default: your AWS configuration)"),
) -> None:
    """Ask the model a tierwise stack deployed, with your AWS credentials (SigV4)."""
    from tierwise import client as tierwise_client

    openai = tierwise_client._openai()
    llm = tierwise_client.for_stack(stack, region=region, max_retries=0)
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    options: dict[str, Any] = {"model": stack, "messages": messages, "max_tokens": max_tokens}
    if temperature is not None:
        options["temperature"] = temperature
    try:
        if stream:
            finish = None
            for chunk in llm.chat.completions.create(stream=True, **options):
                if chunk.choices:
                    sys.stdout.write(chunk.choices[0].delta.content or "")
                    sys.stdout.flush()
                    finish = chunk.choices[0].finish_reason or finish
            sys.stdout.write("\n")
        else:
            answer = llm.chat.completions.create(**options)
            finish = answer.choices[0].finish_reason
            print(answer.choices[0].message.content)
    except openai.APIStatusError as exc:
        raise TierwiseError(f"the model answered {exc.status_code}: {_message(exc)}") from None
    except openai.APIConnectionError as exc:
        raise TierwiseError(f"cannot reach the model of stack {stack!r}: {exc}") from None
    if finish == "length":
        print(f"(cut at {max_tokens} tokens or the runtime's time limit: raise --max-tokens for more)", file=sys.stderr)


def _message(exc: Any) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    return " ".join(str(body.get("message") or exc.message).split())


def register(app: typer.Typer) -> None:
    app.command("chat", cls=Command)(chat)
