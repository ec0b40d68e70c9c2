//! Block Kit for both Slack sinks: a notice as a `header`, `section`s of
//! mrkdwn, a `context` line with the trace link and, for approvals, an
//! `actions` block whose buttons pagerless' server answers at
//! `/api/v1/slack/interactions` (`action_id` `approve` or `deny`, `value` the
//! approval id as a string — keep that contract).
//!
//! Limits from Slack's Block Kit reference:
//! <https://docs.slack.dev/reference/block-kit/blocks/header-block> (header
//! text ≤ 150 characters, plain_text only),
//! <https://api.slack.com/reference/block-kit/blocks#section> (section text ≤
//! 3000 characters), <https://api.slack.com/reference/block-kit/blocks#context>
//! (≤ 10 elements),
//! <https://docs.slack.dev/reference/block-kit/block-elements/button-element>
//! (button text ≤ 75, `action_id` ≤ 255, `value` ≤ 2000, `style` `primary` or
//! `danger`), and at most 50 blocks per message. Text longer than a limit is
//! cut and ends with "…"; mrkdwn's control characters `&`, `<`, `>` are
//! escaped as Slack's formatting guide asks.

use serde_json::{Value, json};

use crate::notice::truncate;
use crate::{Notice, NoticeKind};

/// Most characters of a header block's text.
pub const HEADER_MAX_CHARS: usize = 150;
/// Most characters of a section block's text.
pub const SECTION_MAX_CHARS: usize = 3000;
/// Most elements of a context block.
pub const CONTEXT_MAX_ELEMENTS: usize = 10;
/// Most blocks in one message.
pub const MAX_BLOCKS: usize = 50;
/// Most characters of the top-level `text` (the notification fallback) we send.
pub const FALLBACK_MAX_CHARS: usize = 4000;
/// The `action_id` of the approve button.
pub const APPROVE_ACTION_ID: &str = "approve";
/// The `action_id` of the deny button.
pub const DENY_ACTION_ID: &str = "deny";

/// The notice's Block Kit blocks, within Slack's limits.
pub fn blocks(notice: &Notice) -> Vec<Value> {
    let mut blocks = vec![
        json!({
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": truncate(&format!("{}: {}", notice.kind.headline(), notice.title), HEADER_MAX_CHARS),
                "emoji": true,
            }
        }),
        section(&escape(notice.summary.trim())),
    ];
    if notice.kind == NoticeKind::Escalation {
        blocks.push(section(&escalation_mrkdwn(notice)));
    }
    if notice.kind == NoticeKind::ApprovalNeeded {
        let action = escape(notice.action.as_deref().unwrap_or("a write"));
        let text = match notice.approval_id {
            Some(id) => format!("*Waiting for approval {id}:* {action}"),
            None => format!("*Waiting for approval:* {action}"),
        };
        blocks.push(section(&text));
        if let Some(id) = notice.approval_id {
            blocks.push(approval_actions(id));
        }
    }
    blocks.push(context(notice));
    blocks.truncate(MAX_BLOCKS);
    blocks
}

/// The top-level `text`: what notifications and screen readers show.
pub fn fallback_text(notice: &Notice) -> String {
    truncate(
        &format!(
            "{}: {}\n{}",
            notice.kind.headline(),
            notice.title,
            notice.text()
        ),
        FALLBACK_MAX_CHARS,
    )
}

/// Escapes mrkdwn's control characters.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A mrkdwn link.
fn link(url: &str, label: &str) -> String {
    format!("<{}|{}>", escape(url).replace('|', "%7C"), escape(label))
}

fn section(mrkdwn: &str) -> Value {
    json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": truncate(mrkdwn, SECTION_MAX_CHARS)}
    })
}

fn escalation_mrkdwn(notice: &Notice) -> String {
    let bullets = |items: &[String]| -> String {
        let lines: Vec<String> = items
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| format!("• {}", escape(s.trim())))
            .collect();
        if lines.is_empty() {
            "• nothing".to_owned()
        } else {
            lines.join("\n")
        }
    };
    let why = if notice.why_stopped.trim().is_empty() {
        "no reason was recorded".to_owned()
    } else {
        escape(notice.why_stopped.trim())
    };
    format!(
        "*What I saw*\n{}\n*What I tried*\n{}\n*Why I stopped*\n{why}",
        bullets(&notice.seen),
        bullets(&notice.tried)
    )
}

fn approval_actions(id: i64) -> Value {
    let value = id.to_string();
    json!({
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Approve"},
                "style": "primary",
                "action_id": APPROVE_ACTION_ID,
                "value": value,
            },
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Deny"},
                "style": "danger",
                "action_id": DENY_ACTION_ID,
                "value": value,
            }
        ]
    })
}

fn context(notice: &Notice) -> Value {
    let mut facts = vec![
        format!("Incident {}", notice.incident),
        escape(&notice.environment),
        notice.severity.as_str().to_owned(),
    ];
    if let Some(service) = &notice.service {
        facts.push(escape(service));
    }
    let mut elements = vec![facts.join(" · ")];
    if let Some(pr) = &notice.pull_request {
        elements.push(link(&pr.url, &format!("Pull request #{}", pr.number)));
    }
    if let Some(url) = &notice.trace_url {
        elements.push(link(url, "Trace"));
    }
    let elements: Vec<Value> = elements
        .into_iter()
        .take(CONTEXT_MAX_ELEMENTS)
        .map(|text| json!({"type": "mrkdwn", "text": truncate(&text, SECTION_MAX_CHARS)}))
        .collect();
    json!({"type": "context", "elements": elements})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_control_characters_are_escaped() {
        assert_eq!(escape("a < b & c > d"), "a &lt; b &amp; c &gt; d");
        assert_eq!(link("http://x/?a=1&b=2", "T"), "<http://x/?a=1&amp;b=2|T>");
    }
}
