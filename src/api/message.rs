//! Customer-service messages and the typing indicator
//! (`/doc/offiaccount/Customer_Service/Customer_Service_Messages.html`). A message
//! serializes to exactly the body WeChat takes, so an outbox can store it as is.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use super::card::require;
use super::client::Client;
use super::error::ApiError;

const CUSTOM_SEND_ENDPOINT: &str = "cgi-bin/message/custom/send";
const TYPING_ENDPOINT: &str = "cgi-bin/message/custom/typing";

/// A customer-service message to one user, accepted only inside the reply window the
/// user's own actions open (45015 past it, 45047 once its quota is used).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomMessage {
    /// The recipient's openid.
    pub touser: String,
    #[serde(flatten)]
    pub body: MessageBody,
    /// Send as this customer-service account instead of the account itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customservice: Option<CustomService>,
}

/// The message itself, tagged by WeChat's `msgtype`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "msgtype")]
pub enum MessageBody {
    #[serde(rename = "text")]
    Text { text: Text },
    #[serde(rename = "image")]
    Image { image: Media },
    #[serde(rename = "voice")]
    Voice { voice: Media },
    #[serde(rename = "video")]
    Video { video: Video },
    #[serde(rename = "music")]
    Music { music: Music },
    /// External-link articles; send exactly one, as newer docs allow no more.
    #[serde(rename = "news")]
    News { news: News },
    /// An article page from a material id.
    #[serde(rename = "mpnews")]
    MpNews { mpnews: Media },
    /// A published article, the newer replacement of `mpnews`.
    #[serde(rename = "mpnewsarticle")]
    MpNewsArticle { mpnewsarticle: ArticleRef },
    /// A card; only non-custom-code or imported-code cards can be sent this way, and
    /// WeChat answers 45162 for others.
    #[serde(rename = "wxcard")]
    WxCard { wxcard: WxCard },
    #[serde(rename = "miniprogrampage")]
    MiniProgramPage { miniprogrampage: MiniProgramPage },
    #[serde(rename = "msgmenu")]
    MsgMenu { msgmenu: MsgMenu },
}

/// `text`: may hold `<a href>` links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text {
    pub content: String,
}

/// A media id from the material API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    pub media_id: String,
}

/// `video`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Video {
    pub media_id: String,
    pub thumb_media_id: String,
    pub title: String,
    pub description: String,
}

/// `music`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Music {
    pub title: String,
    pub description: String,
    pub musicurl: String,
    pub hqmusicurl: String,
    pub thumb_media_id: String,
}

/// `news`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct News {
    pub articles: Vec<Article>,
}

/// One external-link article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    pub title: String,
    pub description: String,
    pub url: String,
    pub picurl: String,
}

/// `mpnewsarticle`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArticleRef {
    pub article_id: String,
}

/// `wxcard`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WxCard {
    pub card_id: String,
    /// The signed card_ext JSON string, for cards that need a code or an openid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_ext: Option<String>,
}

/// `miniprogrampage`: the mini program must be linked to the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiniProgramPage {
    pub title: String,
    pub appid: String,
    pub pagepath: String,
    pub thumb_media_id: String,
}

/// `msgmenu`: a question with choices the user taps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MsgMenu {
    pub head_content: String,
    pub list: Vec<MenuItem>,
    pub tail_content: String,
}

/// One choice of a `msgmenu`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuItem {
    pub id: String,
    pub content: String,
}

/// `customservice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomService {
    pub kf_account: String,
}

impl CustomMessage {
    /// A message with `body` to `touser`, sent as the account.
    pub fn new(touser: impl Into<String>, body: MessageBody) -> Self {
        CustomMessage {
            touser: touser.into(),
            body,
            customservice: None,
        }
    }

    /// A text message.
    pub fn text(touser: impl Into<String>, content: impl Into<String>) -> Self {
        let text = Text {
            content: content.into(),
        };
        CustomMessage::new(touser, MessageBody::Text { text })
    }

    /// An image from the material API.
    pub fn image(touser: impl Into<String>, media_id: impl Into<String>) -> Self {
        let image = Media {
            media_id: media_id.into(),
        };
        CustomMessage::new(touser, MessageBody::Image { image })
    }

    /// One external-link article.
    pub fn news(touser: impl Into<String>, article: Article) -> Self {
        let news = News {
            articles: vec![article],
        };
        CustomMessage::new(touser, MessageBody::News { news })
    }

    /// An article page from a material id.
    pub fn mpnews(touser: impl Into<String>, media_id: impl Into<String>) -> Self {
        let mpnews = Media {
            media_id: media_id.into(),
        };
        CustomMessage::new(touser, MessageBody::MpNews { mpnews })
    }

    /// A card without card_ext.
    pub fn wxcard(touser: impl Into<String>, card_id: impl Into<String>) -> Self {
        let wxcard = WxCard {
            card_id: card_id.into(),
            card_ext: None,
        };
        CustomMessage::new(touser, MessageBody::WxCard { wxcard })
    }

    /// A mini program page card.
    pub fn miniprogram_page(touser: impl Into<String>, page: MiniProgramPage) -> Self {
        CustomMessage::new(
            touser,
            MessageBody::MiniProgramPage {
                miniprogrampage: page,
            },
        )
    }

    /// The same message sent as customer-service account `kf_account`.
    pub fn with_kf_account(mut self, kf_account: impl Into<String>) -> Self {
        self.customservice = Some(CustomService {
            kf_account: kf_account.into(),
        });
        self
    }

    /// The card of a `wxcard` message.
    pub fn card_id(&self) -> Option<&str> {
        match &self.body {
            MessageBody::WxCard { wxcard } => Some(&wxcard.card_id),
            _ => None,
        }
    }

    /// WeChat's `msgtype` of this message.
    pub fn msgtype(&self) -> &'static str {
        match &self.body {
            MessageBody::Text { .. } => "text",
            MessageBody::Image { .. } => "image",
            MessageBody::Voice { .. } => "voice",
            MessageBody::Video { .. } => "video",
            MessageBody::Music { .. } => "music",
            MessageBody::News { .. } => "news",
            MessageBody::MpNews { .. } => "mpnews",
            MessageBody::MpNewsArticle { .. } => "mpnewsarticle",
            MessageBody::WxCard { .. } => "wxcard",
            MessageBody::MiniProgramPage { .. } => "miniprogrampage",
            MessageBody::MsgMenu { .. } => "msgmenu",
        }
    }
}

#[derive(Serialize)]
struct TypingBody<'a> {
    touser: &'a str,
    command: &'static str,
}

impl Client {
    /// Sends a customer-service message.
    pub async fn send_custom(&self, message: &CustomMessage) -> Result<(), ApiError> {
        require(CUSTOM_SEND_ENDPOINT, "touser", &message.touser)?;
        if matches!(&message.body, MessageBody::News { news } if news.articles.is_empty()) {
            return Err(ApiError::InvalidRequest {
                endpoint: CUSTOM_SEND_ENDPOINT,
                message: "news needs an article".to_string(),
            });
        }

        let _: IgnoredAny = self.call(CUSTOM_SEND_ENDPOINT, message).await?;
        tracing::debug!(
            msgtype = message.msgtype(),
            "sent a customer-service message"
        );
        Ok(())
    }

    /// Shows (`true`) or hides the typing indicator. WeChat allows it only within 30 s
    /// of an interaction with the user (45080).
    pub async fn send_typing(&self, openid: &str, typing: bool) -> Result<(), ApiError> {
        require(TYPING_ENDPOINT, "openid", openid)?;

        let command = if typing { "Typing" } else { "CancelTyping" };
        let body = TypingBody {
            touser: openid,
            command,
        };
        let _: IgnoredAny = self.call(TYPING_ENDPOINT, &body).await?;
        Ok(())
    }
}
