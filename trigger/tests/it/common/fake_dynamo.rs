//! A tiny stand-in for DynamoDB's HTTP endpoint that answers each request
//! from a script, so that tests can make the real SDK see what moto cannot
//! produce: throttling, `UnprocessedKeys`, a conditional failure carrying an
//! item of the wrong shape. HTTP/1.1 with keep-alive, one thread per
//! connection, std only.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// What the script sees: the operation (`UpdateItem`, `BatchGetItem` …) and
/// the request's JSON body; it returns the HTTP status and the JSON body.
pub type Script = dyn Fn(&str, &Value) -> (u16, String) + Send + Sync;

#[derive(Debug)]
pub struct FakeDynamo {
    pub url: String,
    /// The operations received, in order.
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl FakeDynamo {
    pub fn start(script: impl Fn(&str, &Value) -> (u16, String) + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Script> = Arc::new(script);
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (script, log) = (script.clone(), log.clone());
                std::thread::spawn(move || serve(stream, &*script, &log));
            }
        });
        Self { url, seen }
    }

    pub fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, script: &Script, log: &Mutex<Vec<String>>) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut target = String::new();
        let mut length = 0usize;
        let mut line = String::new();
        // Request line, then headers up to the blank line.
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("x-amz-target") {
                    target = value.rsplit('.').next().unwrap_or("").to_string();
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        log.lock().unwrap().push(target.clone());
        let (status, answer) = script(&target, &request);
        let reply = format!(
            "HTTP/1.1 {status} {}\r\ncontent-type: application/x-amz-json-1.0\r\n\
             x-amzn-requestid: fake-{}\r\ncontent-length: {}\r\n\r\n{answer}",
            if status == 200 { "OK" } else { "Bad Request" },
            log.lock().unwrap().len(),
            answer.len()
        );
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// DynamoDB's JSON error body for `kind` (e.g. `ProvisionedThroughputExceededException`).
pub fn error(kind: &str, message: &str) -> String {
    serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": message,
    })
    .to_string()
}
