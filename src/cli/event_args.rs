//! The flags that describe one push (`<type> --openid ... --card-id ...`), shared by the
//! commands that build an event by hand.

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use clap::Args;

use crate::wechat::event::Event;
use crate::wechat::synth::{self, EventFields};

/// One push, field by field; what is not given is sent as WeChat sends it when unset.
#[derive(Debug, Clone, Default, Args)]
pub struct EventArgs {
    /// The event type: user_get_card, user_consume_card, user_del_card, text, click, ...
    pub kind: Option<String>,
    /// The user's OpenID (`FromUserName`).
    #[arg(long)]
    pub openid: Option<String>,
    /// The account's original id (`ToUserName`).
    #[arg(long)]
    pub account: Option<String>,
    /// `CreateTime`, unix seconds; the evaluation's clock when omitted.
    #[arg(long)]
    pub create_time: Option<i64>,
    /// `CardId`.
    #[arg(long)]
    pub card_id: Option<String>,
    /// `UserCardCode`.
    #[arg(long)]
    pub code: Option<String>,
    /// `OldUserCardCode`.
    #[arg(long)]
    pub old_code: Option<String>,
    /// `OuterStr`: the channel of the QR code or card_ext.
    #[arg(long)]
    pub outer_str: Option<String>,
    /// `OuterId`.
    #[arg(long)]
    pub outer_id: Option<i64>,
    /// `IsGiveByFriend` = 1, with `--friend-openid` the giver.
    #[arg(long)]
    pub give_by_friend: bool,
    /// `FriendUserName`.
    #[arg(long)]
    pub friend_openid: Option<String>,
    /// `ConsumeSource`: FROM_API, FROM_MP, FROM_MOBILE_HELPER, ...
    #[arg(long)]
    pub consume_source: Option<String>,
    /// `StaffOpenId`.
    #[arg(long)]
    pub staff_openid: Option<String>,
    /// `LocationName`.
    #[arg(long)]
    pub location_name: Option<String>,
    /// `Content` of a text message.
    #[arg(long)]
    pub content: Option<String>,
    /// `EventKey` of a menu, follow or scan event.
    #[arg(long)]
    pub event_key: Option<String>,
    /// `MsgId` of a message.
    #[arg(long)]
    pub msg_id: Option<String>,
    /// Any other element, as `Name=value` (repeatable): `--field SourceScene=SOURCE_SCENE_IM`.
    #[arg(long = "field", value_name = "NAME=VALUE")]
    pub fields: Vec<String>,
}

impl EventArgs {
    /// The push WeChat would send for these flags, `create_time` defaulting to `now`.
    pub fn to_xml(&self, now: i64) -> anyhow::Result<String> {
        let Some(kind) = self.kind.as_deref().filter(|kind| !kind.trim().is_empty()) else {
            bail!("give an event type (e.g. user_get_card) or --file with a push's xml");
        };
        let Some(openid) = self.openid.clone().filter(|id| !id.trim().is_empty()) else {
            bail!("give --openid: every push names its user");
        };

        let mut extra = BTreeMap::new();
        for field in &self.fields {
            let Some((name, value)) = field.split_once('=') else {
                bail!("--field {field:?} must be NAME=VALUE");
            };
            extra.insert(name.trim().to_string(), value.to_string());
        }
        let fields = EventFields {
            openid,
            account: self.account.clone().unwrap_or_default(),
            create_time: self.create_time.unwrap_or(now),
            msg_id: self.msg_id.clone(),
            card_id: self.card_id.clone(),
            code: self.code.clone(),
            old_code: self.old_code.clone(),
            outer_id: self.outer_id,
            outer_str: self.outer_str.clone(),
            is_give_by_friend: self.give_by_friend.then_some(true),
            friend_openid: self.friend_openid.clone(),
            unionid: None,
            consume_source: self.consume_source.clone(),
            location_name: self.location_name.clone(),
            staff_openid: self.staff_openid.clone(),
            content: self.content.clone(),
            event_key: self.event_key.clone(),
            fields: extra,
        };
        Ok(synth::event_xml(kind, &fields))
    }

    /// The event the server would see for these flags.
    pub fn to_event(&self, now: i64) -> anyhow::Result<Event> {
        let xml = self.to_xml(now)?;
        Event::parse(xml.as_bytes()).context("the flags do not make a valid push")
    }
}
