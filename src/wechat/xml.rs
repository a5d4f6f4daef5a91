//! A flat reader for WeChat's `<xml>` documents: direct children to trimmed text, with
//! DOCTYPE and entity declarations refused.
