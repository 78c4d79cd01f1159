//! Binary: raw content in and out, FHIR form on request, ranges.

mod common;

use common::*;
use dsf_testkit::{Backend, TestServer, both_backends};
use reqwest::{Method, StatusCode};

both_backends!(raw_upload_and_download, ranges_and_head);

/// Creates an Organization for Binaries to name as their security context; returns `Organization/id`.
async fn security_context(server: &TestServer) -> String {
    let (status, _, org) = send(json_request(
        &client(),
        Method::POST,
        &server.url("Organization"),
        &organization("dic1.dsf.test"),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    format!("Organization/{}", org["id"].as_str().expect("id"))
}

async fn upload(server: &TestServer, context: &str, bytes: &'static [u8]) -> String {
    let c = client();
    let (status, headers, created) = send(
        c.post(server.url("Binary"))
            .header("content-type", "text/plain")
            .header("x-security-context", context)
            .header("accept", JSON)
            .body(bytes),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(header(&headers, "location").contains("/Binary/"));
    created["id"].as_str().expect("id").to_owned()
}

async fn raw_upload_and_download(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let context = security_context(&server).await;
    let id = upload(&server, &context, b"hello, site").await;
    let url = server.url(&format!("Binary/{id}"));
    let response = c
        .get(&url)
        .header("accept", "text/plain")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(header(&headers, "content-type"), "text/plain");
    assert_eq!(header(&headers, "x-security-context"), context);
    assert_eq!(header(&headers, "accept-ranges"), "bytes");
    assert!(header(&headers, "content-disposition").contains(&format!("Binary_{id}.txt")));
    assert_eq!(
        response.bytes().await.expect("body").as_ref(),
        b"hello, site"
    );

    let (status, _, resource) = send(c.get(&url).header("accept", JSON)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(resource["resourceType"], "Binary");
    assert_eq!(resource["data"], "aGVsbG8sIHNpdGU=");
    assert_eq!(resource["securityContext"]["reference"], context.as_str());

    let response = c
        .get(&url)
        .header("accept", "image/png")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::NOT_ACCEPTABLE);

    let (status, _, outcome) = send(
        c.post(server.url("Binary"))
            .header("content-type", "text/plain")
            .header("accept", JSON)
            .body("x"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "X-Security-Context is required: {outcome}"
    );
    let (status, _, outcome) = send(
        c.post(server.url("Binary"))
            .header("content-type", "text/plain")
            .header(
                "x-security-context",
                "Organization/7f2b8e34-3c5a-4e8f-9b1d-2a6c4d8e0f13",
            )
            .header("accept", JSON)
            .body("x"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the security context must exist: {outcome}"
    );

    let response = c
        .put(&url)
        .header("content-type", "text/plain")
        .header("x-security-context", &context)
        .body("second version")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    let body = c
        .get(&url)
        .send()
        .await
        .expect("sent")
        .bytes()
        .await
        .expect("body");
    assert_eq!(body.as_ref(), b"second version");
}

async fn ranges_and_head(backend: Backend) {
    let server = TestServer::start(backend).await;
    let c = client();
    let context = security_context(&server).await;
    let id = upload(&server, &context, b"0123456789").await;
    let url = server.url(&format!("Binary/{id}"));
    let response = c
        .get(&url)
        .header("range", "bytes=2-4")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(header(response.headers(), "content-range"), "bytes 2-4/10");
    assert_eq!(response.bytes().await.expect("body").as_ref(), b"234");
    let response = c
        .get(&url)
        .header("range", "bytes=-3")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.bytes().await.expect("body").as_ref(), b"789");
    let response = c
        .get(&url)
        .header("range", "bytes=20-")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(header(response.headers(), "content-range"), "bytes */10");
    let response = c
        .get(&url)
        .header("range", "bytes=2-4")
        .header("if-range", "W/\"9\"")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a stale If-Range gets everything"
    );
    let response = c.head(&url).send().await.expect("sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response.headers(), "content-length"), "10");
    assert!(response.bytes().await.expect("body").is_empty());
}
