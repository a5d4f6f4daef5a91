//! Passive replies: the XML answered on WeChat's own request, encrypted in safe mode.
