//! The HTTP server: the WeChat callback, health and admin endpoints.
