"""What an alert looks like on each channel: pure functions, no I/O.

- ``slack_payload``: Slack-compatible incoming-webhook JSON, ``text`` (the
  notification fallback) plus ``blocks``: a header with the story label, the
  reason, fields for size, sources and languages, the top headlines as links,
  and a button to the story page.
- ``email_message``: a plain-text ``EmailMessage`` with the same content.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from storywire.messages import Alert

MAX_HEADLINES = 5
MAX_SOURCES = 8


def title(alert: Alert) -> str:
    kind = {"breaking": "Breaking", "watch": "Watch", "velocity": "Surging"}.get(alert.kind, alert.kind)
    follow = f" (update {alert.level})" if alert.level else ""
    return f"{kind}{follow}: {alert.story.label}"


def _esc(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _sources(alert: Alert) -> str:
    srcs = alert.story.sources
    more = f" +{len(srcs) - MAX_SOURCES} more" if len(srcs) > MAX_SOURCES else ""
    return ", ".join(srcs[:MAX_SOURCES]) + more if srcs else "none"


def slack_payload(alert: Alert, link: str) -> dict[str, Any]:
    story = alert.story
    headlines = [f"• <{a.url}|{_esc(a.title)[:200]}> ({_esc(a.source)})" for a in story.top_articles[:MAX_HEADLINES]]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title(alert)[:150], "emoji": False}},
        *(
            [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{_esc(story.headline)[:500]}*"}}]
            if story.headline
            else []
        ),
        {"type": "section", "text": {"type": "mrkdwn", "text": _esc(alert.reason)[:3000]}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Size*\n{story.size} articles"},
                {"type": "mrkdwn", "text": f"*Sources* ({len(story.sources)})\n{_esc(_sources(alert))}"},
                {"type": "mrkdwn", "text": f"*Languages*\n{', '.join(story.languages) or 'unknown'}"},
                {"type": "mrkdwn", "text": f"*Rule*\n{_esc(alert.rule)} ({alert.kind})"},
            ],
        },
    ]
    if headlines:
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": "*Top headlines*\n" + "\n".join(headlines)}}
        )
    blocks.append(
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Open story"},
                    "url": link,
                    "action_id": "open_story",
                }
            ],
        }
    )
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"alert {_esc(alert.id)} · {alert.time:%Y-%m-%d %H:%M} UTC"}],
        }
    )
    return {"text": f"{title(alert)}: {alert.reason} {link}", "blocks": blocks}


def email_text(alert: Alert, link: str) -> str:
    story = alert.story
    lines = [
        title(alert),
        *([story.headline] if story.headline else []),
        "",
        alert.reason,
        "",
        f"Size:      {story.size} articles",
        f"Sources:   {_sources(alert)}",
        f"Languages: {', '.join(story.languages) or 'unknown'}",
        f"Rule:      {alert.rule} ({alert.kind})",
        "",
    ]
    if story.top_articles:
        lines.append("Top headlines:")
        lines += [f"- {a.title} ({a.source})\n  {a.url}" for a in story.top_articles[:MAX_HEADLINES]]
        lines.append("")
    lines += [f"Story: {link}", "", f"alert {alert.id} at {alert.time:%Y-%m-%d %H:%M} UTC"]
    return "\n".join(lines) + "\n"


def email_message(alert: Alert, link: str, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = title(alert).replace("\n", " ")[:200]
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(alert.time)
    msg["Message-ID"] = make_msgid(domain="storywire")
    msg["X-Storywire-Alert"] = alert.id
    msg.set_content(email_text(alert, link))
    return msg
