//! Writes distinct, signed, safe-mode encrypted callback requests for the load
//! benchmark, one per line as `<path and query>\t<body>`, for wrk's script to replay.
//!
//! Usage: gen_pushes COUNT TOKEN APP_ID ENCODING_AES_KEY [FIRST] [KIND] > pushes.tsv
//!
//! FIRST (default 0) numbers the first event, so two files never share an event. KIND
//! is `get` (user_get_card, the default) or `consume` (user_consume_card FROM_API,
//! which the example rules answer with two messages).

use std::io::{BufWriter, Write};

use cardbot::wechat::{crypto, signature};
use rand::RngCore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (count, token, app_id, key, first, kind) = match args.as_slice() {
        [_, count, token, app_id, key] => (count, token, app_id, key, "0", "get"),
        [_, count, token, app_id, key, first] => (count, token, app_id, key, first.as_str(), "get"),
        [_, count, token, app_id, key, first, kind] => {
            (count, token, app_id, key, first.as_str(), kind.as_str())
        }
        _ => {
            return Err(
                "usage: gen_pushes COUNT TOKEN APP_ID ENCODING_AES_KEY [FIRST] [KIND]".into(),
            )
        }
    };
    let count: usize = count.parse()?;
    let first: usize = first.parse()?;
    let key = crypto::AesKey::parse(key)?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut rng = rand::thread_rng();

    for n in first..first + count {
        let xml = match kind {
            "consume" => user_consume_card(n),
            _ => user_get_card(n),
        };
        let mut random = [0u8; 16];
        rng.fill_bytes(&mut random);
        let encrypted = crypto::encrypt(&key, xml.as_bytes(), app_id, &random);

        let timestamp = (1_714_000_000 + n / 100).to_string();
        let nonce = (100_000_000 + n).to_string();
        let parts = [token.as_str(), timestamp.as_str(), nonce.as_str()];
        let signature = signature::sign(&parts);
        let msg_signature = signature::sign(&[token, &timestamp, &nonce, &encrypted]);

        writeln!(
            out,
            "/wechat?signature={signature}&timestamp={timestamp}&nonce={nonce}\
             &encrypt_type=aes&msg_signature={msg_signature}\t\
             <xml><ToUserName><![CDATA[gh_load]]></ToUserName>\
             <Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
        )?;
    }
    out.flush()?;
    Ok(())
}

/// A realistic card receipt; every n is a distinct user, code and channel tag.
fn user_get_card(n: usize) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_load]]></ToUserName>\
         <FromUserName><![CDATA[oLoadUser{user:06}]]></FromUserName>\
         <CreateTime>{time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[user_get_card]]></Event>\
         <CardId><![CDATA[pLoadCard8y-E8hpvho2d1ZvpGwQB]]></CardId>\
         <IsGiveByFriend>0</IsGiveByFriend>\
         <UserCardCode><![CDATA[{code:012}]]></UserCardCode>\
         <FriendUserName><![CDATA[]]></FriendUserName><OuterId>0</OuterId>\
         <OldUserCardCode><![CDATA[]]></OldUserCardCode>\
         <OuterStr><![CDATA[poster-{channel}]]></OuterStr>\
         <IsRestoreMemberCard>0</IsRestoreMemberCard></xml>",
        user = n % 50_000,
        time = 1_714_000_000 + n / 100,
        code = n,
        channel = n % 7,
    )
}

/// A redemption through the API; every n is a distinct code of a distinct user.
fn user_consume_card(n: usize) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_load]]></ToUserName>\
         <FromUserName><![CDATA[oLoadUser{n:06}]]></FromUserName>\
         <CreateTime>{time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\
         <Event><![CDATA[user_consume_card]]></Event>\
         <CardId><![CDATA[pLoadCard8y-E8hpvho2d1ZvpGwQB]]></CardId>\
         <UserCardCode><![CDATA[{n:012}]]></UserCardCode>\
         <ConsumeSource><![CDATA[FROM_API]]></ConsumeSource>\
         <LocationName><![CDATA[]]></LocationName>\
         <StaffOpenId><![CDATA[]]></StaffOpenId></xml>",
        time = cardbot::clock::now_secs(),
    )
}
