//! The WeChat HTTP API client: access token, card queries and messages.
