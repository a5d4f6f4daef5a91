//! Passive replies: the XML answered on WeChat's own request, encrypted in safe mode
//! ("被动回复用户消息" and the message encryption guide).

use std::fmt::Write;

use serde::{Deserialize, Serialize};

use super::crypto::{self, AesKey};
use super::signature;

/// One article of a news reply.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Article {
    /// Headline.
    pub title: String,
    /// Summary under the headline.
    pub description: String,
    /// Page opened when the article is tapped.
    pub url: String,
    /// Cover image URL.
    pub picurl: String,
}

/// A passive text reply to `to_openid` (the push's `FromUserName`) from `from_account`
/// (the push's `ToUserName`).
pub fn text(to_openid: &str, from_account: &str, create_time: i64, content: &str) -> String {
    let mut xml = envelope(to_openid, from_account, create_time, "text");
    push_cdata_element(&mut xml, "Content", content);
    xml.push_str("</xml>");
    xml
}

/// A passive news reply. WeChat shows one article when answering a user's message and
/// up to eight otherwise; the caller chooses how many to send.
pub fn news(to: &str, from: &str, create_time: i64, articles: &[Article]) -> String {
    let mut xml = envelope(to, from, create_time, "news");
    let _ = write!(
        xml,
        "<ArticleCount>{}</ArticleCount><Articles>",
        articles.len()
    );

    for article in articles {
        xml.push_str("<item>");
        push_cdata_element(&mut xml, "Title", &article.title);
        push_cdata_element(&mut xml, "Description", &article.description);
        push_cdata_element(&mut xml, "PicUrl", &article.picurl);
        push_cdata_element(&mut xml, "Url", &article.url);
        xml.push_str("</item>");
    }

    xml.push_str("</Articles></xml>");
    xml
}

/// The safe-mode wrapper of a passive reply: `plaintext` encrypted for `app_id` and
/// signed with `MsgSignature = sign([token, timestamp, nonce, Encrypt])`.
///
/// Elements are separated by newlines, as in WeChat's and the SDKs' published examples.
pub fn encrypt(
    key: &AesKey,
    token: &str,
    app_id: &str,
    plaintext: &str,
    timestamp: &str,
    nonce: &str,
    random: &[u8; 16],
) -> String {
    let encrypted = crypto::encrypt(key, plaintext.as_bytes(), app_id, random);
    let msg_signature = signature::sign(&[token, timestamp, nonce, &encrypted]);

    let mut xml = String::from("<xml>\n");
    push_cdata_element(&mut xml, "Encrypt", &encrypted);
    xml.push('\n');
    push_cdata_element(&mut xml, "MsgSignature", &msg_signature);
    xml.push('\n');
    xml.push_str("<TimeStamp>");
    push_escaped_text(&mut xml, timestamp);
    xml.push_str("</TimeStamp>\n");
    push_cdata_element(&mut xml, "Nonce", nonce);
    xml.push_str("\n</xml>");
    xml
}

/// The elements every passive reply starts with.
fn envelope(to: &str, from: &str, create_time: i64, msg_type: &str) -> String {
    let mut xml = String::from("<xml>");
    push_cdata_element(&mut xml, "ToUserName", to);
    push_cdata_element(&mut xml, "FromUserName", from);
    let _ = write!(xml, "<CreateTime>{create_time}</CreateTime>");
    push_cdata_element(&mut xml, "MsgType", msg_type);
    xml
}

/// `<name><![CDATA[text]]></name>`, with a `]]>` in the text split across two CDATA
/// sections and characters XML cannot carry at all dropped.
pub(crate) fn push_cdata_element(xml: &mut String, name: &str, text: &str) {
    let _ = write!(xml, "<{name}><![CDATA[");
    for ch in text.chars().filter(|&ch| is_xml_char(ch)) {
        xml.push(ch);
        if ch == '>' && xml.ends_with("]]>") {
            // Close before the `>` and reopen: `]]` ends one section, `>` starts the next.
            xml.truncate(xml.len() - 1);
            xml.push_str("]]><![CDATA[>");
        }
    }
    let _ = write!(xml, "]]></{name}>");
}

fn push_escaped_text(xml: &mut String, text: &str) {
    for ch in text.chars().filter(|&ch| is_xml_char(ch)) {
        match ch {
            '&' => xml.push_str("&amp;"),
            '<' => xml.push_str("&lt;"),
            '>' => xml.push_str("&gt;"),
            other => xml.push(other),
        }
    }
}

/// The `Char` production of XML 1.0: most control characters are not allowed, even
/// inside CDATA, and a reply carrying one would be refused.
fn is_xml_char(ch: char) -> bool {
    matches!(ch, '\t' | '\n' | '\r' | ' '..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
        || ch >= '\u{10000}'
}

#[cfg(test)]
mod tests;
