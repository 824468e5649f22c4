//! Every control message a client sends, over the data channel, the WebSocket or
//! HTTP, goes through `protocol::parse` first. It must answer any text with a message
//! or an error (never panic), and the error must be a well-formed `error` message
//! with a code and a non-empty explanation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamtracer_fuzz::protocol;

fuzz_target!(|data: &[u8]| {
    // Transports hand over text; binary frames are answered before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = protocol::parse(text) {
        let reply = e.into_message().to_json();
        let value: serde_json::Value =
            serde_json::from_str(&reply).expect("an error reply is JSON");
        assert_eq!(value["type"], "error", "{reply}");
        assert!(value["code"].is_string(), "{reply}");
        assert!(
            value["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{reply}"
        );
    }
});
