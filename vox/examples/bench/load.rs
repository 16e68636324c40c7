//! The load generator, in a process of its own so that its HTTPS clients and
//! signatures do not run inside the measured node: the benchmark starts its
//! own binary with `--load <json>`, which pushes signed batches from
//! concurrent clients and prints the batch latencies as JSON.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{self, Target};
use crate::Args;

#[derive(serde::Serialize, serde::Deserialize)]
struct Order {
    target: Target,
    run: String,
    items: usize,
    batch: usize,
    clients: usize,
    /// Each client sends one batch per this interval; full speed when None.
    pace_us: Option<u64>,
}

/// What the load generator measured.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Load {
    pub seconds: f64,
    pub latencies_us: Vec<u64>,
}

impl Load {
    pub fn latencies(&self) -> Vec<Duration> {
        self.latencies_us.iter().map(|u| Duration::from_micros(*u)).collect()
    }
}

/// Runs a load generator process against `target` and waits for it.
pub async fn spawn(target: &Target, args: &Args, run: &str, pace: Option<Duration>) -> Load {
    spawn_items(target, args, run, args.items, pace).await
}

pub async fn spawn_items(target: &Target, args: &Args, run: &str, items: usize, pace: Option<Duration>) -> Load {
    let order = Order {
        target: target.clone(),
        run: run.to_owned(),
        items,
        batch: args.batch,
        clients: args.clients,
        pace_us: pace.map(|p| p.as_micros() as u64),
    };
    let order = serde_json::to_string(&order).expect("json");
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(std::env::current_exe().expect("own path"))
            .arg("--load")
            .arg(order)
            .stderr(std::process::Stdio::inherit())
            .output()
    })
    .await
    .expect("task")
    .expect("start the load generator");
    assert!(output.status.success(), "the load generator failed");
    serde_json::from_slice(&output.stdout).expect("the load generator's report")
}

/// Half as many items as a phase, offered at half of `peak` items/s.
pub async fn half_peak(target: &Target, args: &Args, run: &str, peak: f64) -> Load {
    let items = (args.items / 2).max(args.batch * args.clients);
    let per_client = peak / 2.0 / args.batch as f64 / args.clients as f64;
    spawn_items(
        target,
        args,
        run,
        items,
        Some(Duration::from_secs_f64(1.0 / per_client)),
    )
    .await
}

/// The child: pushes, then prints its [`Load`] on stdout.
pub async fn child(order: &str) {
    let order: Order = serde_json::from_str(order).expect("a load order");
    let batches = order.items.div_ceil(order.batch);
    let bodies: Vec<Vec<u8>> = (0..batches)
        .map(|b| common::batch_body(&order.run, b, order.batch))
        .collect();
    let clients = order.clients;
    let queues: Vec<Vec<Vec<u8>>> = (0..clients)
        .map(|c| bodies.iter().skip(c).step_by(clients).cloned().collect())
        .collect();
    let target = Arc::new(order.target);
    let pace = order.pace_us.map(Duration::from_micros);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, queue) in queues.into_iter().enumerate() {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let http = vox::push::client(Some(&target.ca)).expect("client");
            let mut latencies = Vec::new();
            // Spread paced clients over the interval.
            let start = Instant::now() + pace.map(|p| p * c as u32 / clients as u32).unwrap_or_default();
            let batch_url = format!("{}/v1/feedback/batch", target.url);
            for (i, body) in queue.into_iter().enumerate() {
                if let Some(p) = pace {
                    tokio::time::sleep_until((start + p * i as u32).into()).await;
                }
                let sent = Instant::now();
                let nonce = auth::signing::new_nonce();
                let authorization =
                    vox::push::authorization(&target.client_id, &target.secret, &batch_url, &nonce, &body, "");
                let response = http
                    .post(&batch_url)
                    .header("authorization", authorization)
                    .header("content-type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .await
                    .expect("request");
                let status = response.status();
                let text = response.text().await.expect("body");
                assert!(status.is_success(), "{status}: {text}");
                latencies.push(sent.elapsed().as_micros() as u64);
            }
            latencies
        }));
    }
    let mut latencies_us = Vec::new();
    for t in tasks {
        latencies_us.extend(t.await.expect("client task"));
    }
    let load = Load {
        seconds: started.elapsed().as_secs_f64(),
        latencies_us,
    };
    println!("{}", serde_json::to_string(&load).expect("json"));
}
