//! The UI's one stylesheet and one script, compiled into the binary and served under a name that
//! carries a hash of their content, so that browsers may cache them for a year and still get a
//! new version the moment it changes.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// A static file with its versioned path.
pub struct Asset {
    /// `/ui/static/jeton.<hash>.css`.
    pub path: String,
    body: &'static str,
    content_type: &'static str,
}

impl Asset {
    fn new(stem: &str, ext: &str, body: &'static str, content_type: &'static str) -> Self {
        let digest = Sha256::digest(body.as_bytes());
        let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        Self {
            path: format!("/ui/static/{stem}.{hash}.{ext}"),
            body,
            content_type,
        }
    }

    fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or_default()
    }
}

/// The stylesheet.
pub static CSS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "jeton",
        "css",
        include_str!("../../templates/static/jeton.css"),
        "text/css; charset=utf-8",
    )
});

/// The script: copy buttons, confirmation dialogs, the key dialog, the expiry field.
pub static JS: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "jeton",
        "js",
        include_str!("../../templates/static/jeton.js"),
        "text/javascript; charset=utf-8",
    )
});

/// `GET /ui/static/{file}`: only the current versions exist.
pub(super) async fn serve(Path(file): Path<String>) -> Response {
    for asset in [&*CSS, &*JS] {
        if asset.file_name() == file {
            let mut response = asset.body.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            return response;
        }
    }
    (StatusCode::NOT_FOUND, "no such file").into_response()
}
