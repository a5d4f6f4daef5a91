//! The statistics dashboard at `/admin/`: a static page, its scripts, style and the
//! vendored Chart.js, all embedded in the binary so that it works with no internet.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, Scope};
use sha1::{Digest, Sha1};

use super::admin::check_reachable;
use super::AppState;

/// Scripts, styles, images and fetch() only from this server; no inline script or
/// style, no plugins, no framing, forms post back here only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// The browser revalidates every time and gets a 304 while the binary is the same.
const CACHE_CONTROL: &str = "no-cache";

/// One embedded file.
#[derive(Debug)]
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// The page shell: markup only, no data and no token.
const INDEX: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("dashboard/index.html"),
};

/// What `/admin/assets/{name}` serves.
const ASSETS: [Asset; 6] = [
    Asset {
        name: "charts.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("dashboard/charts.js"),
    },
    Asset {
        name: "panels.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("dashboard/panels.js"),
    },
    Asset {
        name: "dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("dashboard/dashboard.js"),
    },
    Asset {
        name: "dashboard.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("dashboard/dashboard.css"),
    },
    Asset {
        name: "chart.umd.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("dashboard/vendor/chart.umd.min.js"),
    },
    Asset {
        name: "chart.js-LICENSE.md",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("dashboard/vendor/chart.js-LICENSE.md"),
    },
];

/// Adds the dashboard's routes to the `/admin` scope.
///
/// The page and its assets are static and hold no statistics, so they are served
/// without the token but with the same gate as the rest of /admin: 404 while admin is
/// off, 403 to non-loopback peers unless `allow_remote`. A browser cannot attach a
/// bearer token to a navigation, so the page takes the token from its login form or
/// from the URL fragment (`/admin/#token=...`, which browsers never send), keeps it in
/// sessionStorage, clears it from the address bar and sends it as `Authorization:
/// Bearer` on each fetch() of the admin API. No data leaves without the token, and the
/// token never appears in a request line, so no access log can hold it.
pub(crate) fn routes(scope: Scope) -> Scope {
    scope
        .route("", web::get().to(redirect_to_page))
        .route("/", web::get().to(page))
        .route("/assets/{name}", web::get().to(asset))
}

/// `/admin` without the slash: the page's relative links need the slash.
async fn redirect_to_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(refused) = check_reachable(&req, &state) {
        return *refused;
    }
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/admin/"))
        .finish()
}

async fn page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Err(refused) = check_reachable(&req, &state) {
        return *refused;
    }
    serve(&req, &INDEX, 0)
}

async fn asset(
    req: HttpRequest,
    state: web::Data<AppState>,
    name: web::Path<String>,
) -> HttpResponse {
    if let Err(refused) = check_reachable(&req, &state) {
        return *refused;
    }
    let found = ASSETS
        .iter()
        .enumerate()
        .find(|(_, asset)| asset.name == name.as_str());
    match found {
        // Index 0 is the page's own tag; assets follow.
        Some((index, asset)) => serve(&req, asset, index + 1),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no such dashboard asset"),
    }
}

/// Answers `asset`, or 304 when the browser's copy is current.
fn serve(req: &HttpRequest, asset: &Asset, tag_index: usize) -> HttpResponse {
    let etag = &entity_tags()[tag_index];
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|given| given.split(',').any(|tag| tag.trim() == etag));

    let mut answer = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    answer
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, CACHE_CONTROL))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
    if fresh {
        return answer.finish();
    }
    answer.content_type(asset.content_type).body(asset.body)
}

/// Strong entity tags of the page and the assets, in that order, hashed once.
fn entity_tags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        let files = std::iter::once(&INDEX).chain(ASSETS.iter());
        let tags = files.map(|asset| {
            let digest = Sha1::digest(asset.body);
            format!("\"{}\"", hex::encode(&digest[..12]))
        });
        tags.collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_entity_tag() {
        let tags = entity_tags();

        let mut unique = tags.to_vec();
        unique.sort();
        unique.dedup();

        assert_eq!(tags.len(), ASSETS.len() + 1);
        assert_eq!(unique.len(), tags.len());
    }

    #[test]
    fn the_page_loads_no_inline_script_and_nothing_from_elsewhere() {
        let page = std::str::from_utf8(INDEX.body).unwrap();

        let scripts: Vec<&str> = page.split("<script").skip(1).collect();

        assert!(!scripts.is_empty());
        for script in scripts {
            assert!(script.trim_start().starts_with("src=\"assets/"), "{script}");
        }
        assert!(!page.contains("http://") && !page.contains("https://"));
        assert!(!page.contains("style=\""));
    }
}
