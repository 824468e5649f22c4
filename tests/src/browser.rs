//! Headless Debian Chromium driven through chromedriver, for end-to-end tests of the
//! web client.

use anyhow::{anyhow, bail, Context};
use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process and one browser session; both end when this is dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile. The flags
    /// keep Chromium off the network and let WebRTC use loopback, where the test
    /// server's media lives.
    pub async fn start(width: u32, height: u32) -> anyhow::Result<Browser> {
        for path in [CHROMIUM, CHROMEDRIVER] {
            if !std::path::Path::new(path).exists() {
                bail!("{path} is missing: install Debian's chromium and chromium-driver (scripts/setup.sh does)");
            }
        }
        let port = free_port()?;
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?;
        let profile = std::env::temp_dir().join(format!(
            "streamtracer-chromium-{}-{port}",
            std::process::id()
        ));
        std::fs::create_dir_all(&profile)?;
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            format!("--user-data-dir={}", profile.display()),
            format!("--window-size={width},{height}"),
            "--autoplay-policy=no-user-gesture-required".into(),
            // WebRTC: gather loopback candidates and show real addresses, not mDNS names,
            // so the browser and the test server meet on 127.0.0.1.
            "--allow-loopback-in-peer-connection".into(),
            "--disable-features=WebRtcHideLocalIpsWithMdns".into(),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": CHROMIUM, "args": args }),
        );
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    tracing::debug!("chromedriver not ready: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(anyhow!("could not start a Chromium session: {e}")),
            }
        };
        Ok(Browser {
            client,
            driver,
            profile,
        })
    }

    /// Runs `script` (a function body that returns a value) and decodes the result.
    pub async fn eval(&self, script: &str) -> anyhow::Result<Value> {
        Ok(self.client.execute(script, vec![]).await?)
    }

    /// Polls `condition` (a JavaScript expression) until it is true.
    pub async fn wait_for(&self, condition: &str, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.eval(&format!("return !!({condition});")).await? == json!(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let state = self
                    .eval("return JSON.stringify(window.streamtracer || null);")
                    .await
                    .unwrap_or_default();
                bail!("timed out waiting for `{condition}`; page state: {state}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Drags with the left mouse button from the middle of the element `selector` (CSS)
    /// by `steps` moves of (`dx`, `dy`) CSS pixels 30 ms apart.
    pub async fn drag(&self, selector: &str, steps: usize, dx: f64, dy: f64) -> anyhow::Result<()> {
        use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
        let element = self.client.find(fantoccini::Locator::Css(selector)).await?;
        let mut drag = MouseActions::new("mouse".into())
            .then(PointerAction::MoveToElement {
                element,
                duration: None,
                x: 0.0,
                y: 0.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            });
        for _ in 0..steps {
            drag = drag.then(PointerAction::MoveBy {
                duration: Some(std::time::Duration::from_millis(30)),
                x: dx,
                y: dy,
            });
        }
        drag = drag.then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
        self.client.perform_actions(drag).await?;
        Ok(())
    }

    /// Double-clicks with the mouse at (`x`, `y`) CSS pixels of the viewport.
    pub async fn double_click_at(&self, x: f64, y: f64) -> anyhow::Result<()> {
        use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
        let mut clicks = MouseActions::new("mouse".into()).then(PointerAction::MoveTo {
            duration: None,
            x,
            y,
        });
        for _ in 0..2 {
            clicks = clicks
                .then(PointerAction::Down {
                    button: MOUSE_BUTTON_LEFT,
                })
                .then(PointerAction::Up {
                    button: MOUSE_BUTTON_LEFT,
                });
        }
        self.client.perform_actions(clicks).await?;
        Ok(())
    }

    /// Clicks the element `selector` (CSS) with the mouse. A page that re-renders
    /// the element between finding and clicking it (the scene panel redraws its lists
    /// when the scene changes) leaves a stale reference: the element is found again.
    pub async fn click(&self, selector: &str) -> anyhow::Result<()> {
        let mut attempts = 0;
        loop {
            let found = self.client.find(fantoccini::Locator::Css(selector)).await?;
            match found.click().await {
                Ok(_) => return Ok(()),
                Err(e) if attempts < 5 && e.to_string().contains("stale element") => {
                    attempts += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Runs a Chrome DevTools Protocol command through chromedriver.
    pub async fn cdp(&self, cmd: &str, params: Value) -> anyhow::Result<Value> {
        self.client
            .issue_cmd(Cdp {
                cmd: cmd.to_owned(),
                params,
            })
            .await
            .map_err(|e| anyhow!("CDP {cmd}: {e}"))
    }

    /// A touch gesture dispatched as real touch input (CDP `Input.dispatchTouchEvent`):
    /// fingers go down at `from` (viewport CSS pixels), move in `steps` even steps
    /// 30 ms apart to `to`, and lift.
    pub async fn touch(
        &self,
        from: &[(f64, f64)],
        to: &[(f64, f64)],
        steps: usize,
    ) -> anyhow::Result<()> {
        anyhow::ensure!(
            from.len() == to.len(),
            "as many fingers at the end as at the start"
        );
        self.cdp(
            "Emulation.setTouchEmulationEnabled",
            json!({"enabled": true, "maxTouchPoints": 5}),
        )
        .await?;
        let points = |k: f64| -> Value {
            Value::Array(
                from.iter()
                    .zip(to)
                    .enumerate()
                    .map(|(i, (a, b))| {
                        json!({"x": a.0 + (b.0 - a.0) * k, "y": a.1 + (b.1 - a.1) * k, "id": i})
                    })
                    .collect(),
            )
        };
        self.cdp(
            "Input.dispatchTouchEvent",
            json!({"type": "touchStart", "touchPoints": points(0.0)}),
        )
        .await?;
        for step in 1..=steps {
            tokio::time::sleep(Duration::from_millis(30)).await;
            self.cdp(
                "Input.dispatchTouchEvent",
                json!({"type": "touchMove", "touchPoints": points(step as f64 / steps as f64)}),
            )
            .await?;
        }
        self.cdp(
            "Input.dispatchTouchEvent",
            json!({"type": "touchEnd", "touchPoints": []}),
        )
        .await?;
        Ok(())
    }

    /// Browser console entries at level SEVERE (errors) since the last call.
    pub async fn console_errors(&self) -> anyhow::Result<Vec<String>> {
        let logs = self
            .client
            .issue_cmd(ChromeLog)
            .await
            .map_err(|e| anyhow!("reading the browser log: {e}"))?;
        Ok(logs
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["level"] == "SEVERE")
            .map(|e| e["message"].as_str().unwrap_or_default().to_owned())
            .collect())
    }

    pub async fn close(mut self) -> anyhow::Result<()> {
        let r = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
        r.map_err(|e| anyhow!("closing the browser: {e}"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // When a test fails before `close`, Chromium must not outlive it. It detaches
        // into its own session, so killing chromedriver is not enough; every one of its
        // processes carries the test's unique profile directory on its command line.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = Command::new("pkill")
            .args([
                "-KILL",
                "-f",
                "--",
                &format!("--user-data-dir={}", self.profile.display()),
            ])
            .status();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `POST /session/{id}/goog/cdp/execute`: a DevTools Protocol command.
#[derive(Debug)]
struct Cdp {
    cmd: String,
    params: Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"cmd": self.cmd, "params": self.params}).to_string()),
        )
    }
}

/// `POST /session/{id}/se/log` with `{"type":"browser"}`: chromedriver's console log.
#[derive(Debug)]
struct ChromeLog;

impl fantoccini::wd::WebDriverCompatibleCommand for ChromeLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(r#"{"type":"browser"}"#.to_string()),
        )
    }
}
