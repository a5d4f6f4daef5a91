//! The WeChat HTTP API client: one shared access token, typed card queries and
//! messages, and errors that say whether to retry, drop or call a person.
//!
//! [`Client`] is the entry point; [`ApiError::class`] drives what callers do on failure.

mod card;
mod card_info;
mod client;
mod errcode;
mod error;
mod message;
mod open_enum;
mod qrcode;
mod template;
mod token;
mod token_source;
mod transport;

pub use card::{CardStatus, CodeStatus, Redeemed, UserCard, UserCardStatus, UserCards};
pub use card_info::{CardInfo, CardType, Validity};
pub use client::Client;
pub use errcode::{classify_errcode, describe_errcode, ErrorClass};
pub use error::ApiError;
pub use message::{
    Article, ArticleRef, CustomMessage, CustomService, Media, MenuItem, MessageBody,
    MiniProgramPage, MsgMenu, Music, News, Text, Video, WxCard,
};
pub use qrcode::{QrCard, QrCards, QrCode, QrCodeRequest};
pub use template::{MiniProgramLink, TemplateField, TemplateMessage};
pub use token::TOKEN_TREE;
