//! Lambda's side of the wiring, which moto does not run: the SQS event source mapping
//! (partial batch failures, visibility timeout, redrive to the DLQ), the schedule actor
//! (Scheduled Events on `rate(...)`), and the two invokers (in-process, and a Lambda
//! runtime endpoint over HTTP as `cargo lambda watch` serves it) with the same JSON.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use sandbox::Error;
use sandbox::actors::invoke::{InProcess, Invoke, LambdaEndpoint};
use sandbox::actors::schedule::{ScheduleConfig, ScheduledTarget, start_schedules};
use sandbox::actors::sqs::{BatchOutcome, SqsEventSource, SqsEventSourceConfig};
use sandbox::aws::{AwsAccount, MotoClient, MotoServer};
use serde_json::{Value, json};
use tokio::net::TcpListener;

async fn moto() -> &'static MotoServer {
    MotoServer::shared()
        .await
        .expect("moto starts (run scripts/setup-venv.sh first)")
}

/// Creates a queue (with `attributes`) and returns its URL and ARN.
async fn create_queue(
    client: &MotoClient,
    account: &AwsAccount,
    name: &str,
    attributes: Value,
) -> (String, String) {
    let created = client
        .sqs(
            account,
            "CreateQueue",
            &json!({ "QueueName": name, "Attributes": attributes }),
        )
        .await
        .expect("CreateQueue");
    let url = created["QueueUrl"].as_str().expect("QueueUrl").to_owned();
    let attrs = client
        .sqs(
            account,
            "GetQueueAttributes",
            &json!({ "QueueUrl": url, "AttributeNames": ["QueueArn"] }),
        )
        .await
        .expect("GetQueueAttributes");
    let arn = attrs["Attributes"]["QueueArn"]
        .as_str()
        .expect("QueueArn")
        .to_owned();
    (url, arn)
}

async fn send(client: &MotoClient, account: &AwsAccount, url: &str, body: &str) -> String {
    let sent = client
        .sqs(
            account,
            "SendMessage",
            &json!({
                "QueueUrl": url,
                "MessageBody": body,
                "MessageAttributes": { "kind": { "DataType": "String", "StringValue": "test" } },
            }),
        )
        .await
        .expect("SendMessage");
    sent["MessageId"].as_str().expect("MessageId").to_owned()
}

/// (visible, in flight) message counts.
async fn counts(client: &MotoClient, account: &AwsAccount, url: &str) -> (u64, u64) {
    let attrs = client
        .sqs(
            account,
            "GetQueueAttributes",
            &json!({ "QueueUrl": url, "AttributeNames": ["All"] }),
        )
        .await
        .expect("GetQueueAttributes");
    let n = |k: &str| {
        attrs["Attributes"][k]
            .as_str()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    (
        n("ApproximateNumberOfMessages"),
        n("ApproximateNumberOfMessagesNotVisible"),
    )
}

async fn drain_bodies(client: &MotoClient, account: &AwsAccount, url: &str) -> Vec<String> {
    let answer = client
        .sqs(
            account,
            "ReceiveMessage",
            &json!({ "QueueUrl": url, "MaxNumberOfMessages": 10 }),
        )
        .await
        .expect("ReceiveMessage");
    let mut bodies: Vec<String> = answer["Messages"]
        .as_array()
        .map(|m| {
            m.iter()
                .filter_map(|m| m["Body"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    bodies.sort();
    bodies
}

/// An in-process function that fails the records whose body starts with `fail`, and
/// records each body with its ApproximateReceiveCount.
fn failing_function(seen: Arc<Mutex<Vec<(String, String)>>>) -> InProcess {
    InProcess::new().typed("interruption", move |event: SqsEvent| {
        let seen = Arc::clone(&seen);
        async move {
            let mut response = SqsBatchResponse::default();
            for record in event.records {
                let body = record.body.unwrap_or_default();
                let count = record
                    .attributes
                    .get("ApproximateReceiveCount")
                    .cloned()
                    .unwrap_or_default();
                if body.starts_with("fail") {
                    response.add_failure(record.message_id.unwrap_or_default());
                }
                seen.lock().expect("lock").push((body, count));
            }
            Ok::<_, Infallible>(response)
        }
    })
}

#[tokio::test]
async fn sqs_source_deletes_successes_and_failures_reach_the_dlq() {
    let server = moto().await;
    let client = server.client();
    let account = server.new_account();
    let (dlq_url, dlq_arn) = create_queue(client, &account, "interruption-dlq", json!({})).await;
    let redrive = json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2" }).to_string();
    let (url, arn) = create_queue(
        client,
        &account,
        "interruption",
        json!({ "VisibilityTimeout": "1", "RedrivePolicy": redrive }),
    )
    .await;
    for body in ["ok-1", "fail-1", "ok-2", "fail-2", "ok-3"] {
        send(client, &account, &url, body).await;
    }

    let seen = Arc::new(Mutex::new(Vec::new()));
    let events = Arc::new(Mutex::new(Vec::<Value>::new()));
    let recorded = Arc::clone(&events);
    let function = failing_function(Arc::clone(&seen));
    // Wrap it to keep the raw event JSON too.
    let wrapped = InProcess::new().handler("interruption", move |event: Value| {
        let function = function.clone();
        let recorded = Arc::clone(&recorded);
        async move {
            recorded.lock().expect("lock").push(event.clone());
            function.invoke("interruption", event).await
        }
    });
    let source = SqsEventSource::new(
        client.clone(),
        account.clone(),
        SqsEventSourceConfig::new("interruption", &url),
        Arc::new(wrapped),
    )
    .await
    .expect("event source");
    assert_eq!(source.queue_arn(), arn);
    let stats = source.stats();
    let actor = source.spawn();

    // Each failure is received twice (maxReceiveCount 2), then moved to the DLQ on its
    // third receive, about a visibility timeout apart.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (dlq_visible, _) = counts(client, &account, &dlq_url).await;
        if dlq_visible == 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the failures did not reach the DLQ: seen {:?}",
            seen.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    actor.stop().await;

    let mut seen: Vec<(String, String)> = seen.lock().expect("lock").clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("fail-1".into(), "1".into()),
            ("fail-1".into(), "2".into()),
            ("fail-2".into(), "1".into()),
            ("fail-2".into(), "2".into()),
            ("ok-1".into(), "1".into()),
            ("ok-2".into(), "1".into()),
            ("ok-3".into(), "1".into()),
        ]
    );
    assert_eq!(counts(client, &account, &url).await, (0, 0));
    assert_eq!(
        drain_bodies(client, &account, &dlq_url).await,
        ["fail-1", "fail-2"]
    );
    assert_eq!(
        stats.deleted.load(std::sync::atomic::Ordering::Relaxed),
        3,
        "successes deleted once each"
    );

    // The event is Lambda's SQS event.
    let events = events.lock().expect("lock").clone();
    let record = &events[0]["Records"][0];
    assert_eq!(record["eventSource"], "aws:sqs");
    assert_eq!(record["eventSourceARN"], arn.as_str());
    assert_eq!(record["awsRegion"], "us-east-1");
    assert!(record["messageId"].is_string() && record["receiptHandle"].is_string());
    assert!(record["md5OfBody"].is_string(), "{record}");
    assert_eq!(
        record["messageAttributes"]["kind"]["stringValue"], "test",
        "{record}"
    );
    assert_eq!(record["messageAttributes"]["kind"]["dataType"], "String");
    for key in [
        "SentTimestamp",
        "ApproximateFirstReceiveTimestamp",
        "SenderId",
    ] {
        assert!(record["attributes"][key].is_string(), "{key}: {record}");
    }
}

#[tokio::test]
async fn a_function_error_fails_the_whole_batch() {
    let server = moto().await;
    let client = server.client();
    let account = server.new_account();
    let (url, _) = create_queue(
        client,
        &account,
        "whole-batch",
        json!({ "VisibilityTimeout": "30" }),
    )
    .await;
    for body in ["a", "b", "c"] {
        send(client, &account, &url, body).await;
    }
    let failing = InProcess::new().handler("interruption", |_event: Value| async move {
        Err::<Value, _>(std::io::Error::other("cannot reach the cluster"))
    });
    let mut config = SqsEventSourceConfig::new("interruption", &url);
    config.wait_time = Duration::ZERO;
    let source = SqsEventSource::new(client.clone(), account.clone(), config, Arc::new(failing))
        .await
        .expect("event source");
    let outcome = source.poll_once().await.expect("poll");
    assert_eq!(
        outcome,
        BatchOutcome {
            received: 3,
            deleted: 0,
            failed: 3,
            invocation_failed: true
        }
    );
    // All three stay on the queue, invisible until the visibility timeout.
    assert_eq!(counts(client, &account, &url).await, (0, 3));

    // An answer naming a message that is not in the batch fails the whole batch too;
    // an empty list deletes all.
    let (url, _) = create_queue(
        client,
        &account,
        "unknown-item",
        json!({ "VisibilityTimeout": "30" }),
    )
    .await;
    for body in ["x", "y"] {
        send(client, &account, &url, body).await;
    }
    let odd = InProcess::new()
        .handler("odd", |_event: Value| async move {
            Ok::<_, Infallible>(
                json!({ "batchItemFailures": [{ "itemIdentifier": "not-in-batch" }] }),
            )
        })
        .handler("fine", |_event: Value| async move {
            Ok::<_, Infallible>(json!({ "batchItemFailures": [] }))
        });
    let odd = Arc::new(odd);
    let mut config = SqsEventSourceConfig::new("odd", &url);
    config.wait_time = Duration::ZERO;
    config.visibility_timeout = Some(Duration::from_secs(1));
    let source = SqsEventSource::new(client.clone(), account.clone(), config.clone(), odd.clone())
        .await
        .expect("event source");
    let outcome = source.poll_once().await.expect("poll");
    assert_eq!((outcome.received, outcome.deleted), (2, 0));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    config.function = "fine".into();
    let source = SqsEventSource::new(client.clone(), account.clone(), config, odd)
        .await
        .expect("event source");
    let outcome = source.poll_once().await.expect("poll");
    assert_eq!((outcome.received, outcome.deleted), (2, 2));
    assert_eq!(counts(client, &account, &url).await, (0, 0));
}

#[tokio::test]
async fn the_schedule_actor_sends_scheduled_events_on_each_tick() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(&'static str, Value)>();
    let (tick_tx, repair_tx) = (tx.clone(), tx);
    let functions = InProcess::new()
        .handler("provisioner", move |event: Value| {
            let tx = tick_tx.clone();
            async move {
                let _ = tx.send(("provisioner", event));
                Ok::<_, Infallible>(Value::Null)
            }
        })
        .handler("bootstrap", move |event: Value| {
            let tx = repair_tx.clone();
            async move {
                let _ = tx.send(("bootstrap", event));
                Ok::<_, Infallible>(Value::Null)
            }
        });
    let mut repair = ScheduledTarget::new("bootstrap", "rate(2 seconds)").expect("rate");
    repair.input = Some(json!({ "action": "repair" }));
    let config = ScheduleConfig::new("123456789012", "eu-west-1")
        .target(ScheduledTarget::new("provisioner", "rate(1 second)").expect("rate"))
        .target(repair);
    let started = Instant::now();
    let (actor, stats) = start_schedules(config, Arc::new(functions));
    tokio::time::sleep(Duration::from_millis(4_300)).await;
    actor.stop().await;
    let elapsed = started.elapsed();

    let mut by_function: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    while let Ok((function, event)) = rx.try_recv() {
        by_function.entry(function).or_default().push(event);
    }
    let ticks = by_function.remove("provisioner").unwrap_or_default();
    let repairs = by_function.remove("bootstrap").unwrap_or_default();
    // rate(1 second) over ~4.3 s: 4 ticks (3 under heavy load); rate(2 seconds): 2.
    assert!(
        (3..=5).contains(&ticks.len()),
        "{} ticks in {elapsed:?}",
        ticks.len()
    );
    assert!(
        (1..=3).contains(&repairs.len()),
        "{} repairs",
        repairs.len()
    );
    assert_eq!(
        stats.invocations.load(std::sync::atomic::Ordering::Relaxed) as usize,
        ticks.len() + repairs.len()
    );
    let mut times = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for event in &ticks {
        let keys: Vec<&str> = event
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys.iter()
                .copied()
                .collect::<std::collections::BTreeSet<_>>(),
            [
                "account",
                "detail",
                "detail-type",
                "id",
                "region",
                "resources",
                "source",
                "time",
                "version"
            ]
            .into_iter()
            .collect(),
        );
        assert_eq!(event["version"], "0");
        assert_eq!(event["detail-type"], "Scheduled Event");
        assert_eq!(event["source"], "aws.events");
        assert_eq!(event["account"], "123456789012");
        assert_eq!(event["region"], "eu-west-1");
        assert_eq!(
            event["resources"],
            json!(["arn:aws:events:eu-west-1:123456789012:rule/provisioner-schedule"])
        );
        assert_eq!(event["detail"], json!({}));
        ids.insert(event["id"].as_str().expect("id").to_owned());
        times.push(event["time"].as_str().expect("time").to_owned());
    }
    assert_eq!(ids.len(), ticks.len(), "a fresh id per event");
    let mut sorted = times.clone();
    sorted.dedup();
    assert_eq!(sorted.len(), times.len(), "one event per second: {times:?}");
    for event in &repairs {
        assert_eq!(event, &json!({ "action": "repair" }));
    }
}

/// A stand-in for `cargo lambda watch`: serves `POST /2015-03-31/functions/<name>/invocations`
/// from `functions`, and records each request body. A function error is answered as
/// `cargo lambda watch` does (500 with the error document) or, for `real-lambda-*`
/// functions, as Lambda does (200 with `X-Amz-Function-Error`).
async fn fake_lambda_watch(functions: InProcess) -> (String, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&bodies);
    let functions = Arc::new(functions);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let functions = Arc::clone(&functions);
            let recorded = Arc::clone(&recorded);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let functions = Arc::clone(&functions);
                    let recorded = Arc::clone(&recorded);
                    async move { Ok::<_, Infallible>(serve(req, &functions, &recorded).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), bodies)
}

async fn serve(
    req: Request<Incoming>,
    functions: &InProcess,
    recorded: &Mutex<Vec<Value>>,
) -> Response<Full<Bytes>> {
    let reply = |status: StatusCode, body: Value| {
        let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
        *response.status_mut() = status;
        response
    };
    let path = req.uri().path().to_owned();
    let name = path
        .strip_prefix("/2015-03-31/functions/")
        .and_then(|rest| rest.strip_suffix("/invocations"))
        .map(str::to_owned);
    let Some(name) = name.filter(|_| req.method() == hyper::Method::POST) else {
        return reply(StatusCode::NOT_FOUND, json!({ "title": "Not Found" }));
    };
    if !functions.has(&name) {
        return reply(
            StatusCode::NOT_FOUND,
            json!({ "title": "Missing function", "detail": format!("Function {name} not found") }),
        );
    }
    let bytes = match req.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return reply(StatusCode::BAD_REQUEST, Value::Null),
    };
    let Ok(event) = serde_json::from_slice::<Value>(&bytes) else {
        return reply(StatusCode::BAD_REQUEST, Value::Null);
    };
    recorded.lock().expect("lock").push(event.clone());
    match functions.invoke(&name, event).await {
        Ok(answer) => reply(StatusCode::OK, answer),
        Err(Error::FunctionError {
            error_type,
            message,
            ..
        }) => {
            let doc = json!({ "errorType": error_type, "errorMessage": message });
            if name.starts_with("real-lambda") {
                let mut response = reply(StatusCode::OK, doc);
                response.headers_mut().insert(
                    "X-Amz-Function-Error",
                    hyper::header::HeaderValue::from_static("Unhandled"),
                );
                response
            } else {
                reply(StatusCode::INTERNAL_SERVER_ERROR, doc)
            }
        }
        Err(other) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({ "title": other.to_string() }),
        ),
    }
}

#[tokio::test]
async fn the_http_invoker_round_trips_the_same_json_as_in_process() {
    let seen_in_process = Arc::new(Mutex::new(Vec::<Value>::new()));
    let recorder = Arc::clone(&seen_in_process);
    let functions = InProcess::new()
        .handler("echo", move |event: Value| {
            let recorder = Arc::clone(&recorder);
            async move {
                recorder.lock().expect("lock").push(event.clone());
                Ok::<_, Infallible>(json!({ "got": event }))
            }
        })
        .handler("failing", |_event: Value| async move {
            Err::<Value, _>(std::io::Error::other("no capacity"))
        })
        .handler("real-lambda-failing", |_event: Value| async move {
            Err::<Value, _>(std::io::Error::other("no capacity"))
        })
        .typed("interruption", |event: SqsEvent| async move {
            let mut response = SqsBatchResponse::default();
            for record in event.records {
                if record.body.as_deref() == Some("fail") {
                    response.add_failure(record.message_id.unwrap_or_default());
                }
            }
            Ok::<_, Infallible>(response)
        });
    let (url, received_over_http) = fake_lambda_watch(functions.clone()).await;
    let http = LambdaEndpoint::new(&url).expect("endpoint");

    let event = sandbox::actors::schedule::scheduled_event("us-east-1", "123456789012", "tick", 0);
    let via_http = http.invoke("echo", event.clone()).await.expect("http");
    let in_process = functions
        .invoke("echo", event.clone())
        .await
        .expect("local");
    assert_eq!(via_http, in_process);
    assert_eq!(via_http, json!({ "got": event }));
    assert_eq!(received_over_http.lock().expect("lock")[0], event);
    let handler_saw = seen_in_process.lock().expect("lock").clone();
    assert_eq!(handler_saw, [event.clone(), event]);

    // Function errors come back as function errors, whichever way the endpoint reports them.
    for name in ["failing", "real-lambda-failing"] {
        let local = functions
            .invoke(name, Value::Null)
            .await
            .expect_err("fails");
        let remote = http.invoke(name, Value::Null).await.expect_err("fails");
        match (local, remote) {
            (
                Error::FunctionError {
                    error_type: a,
                    message: m,
                    ..
                },
                Error::FunctionError {
                    error_type: b,
                    message: n,
                    ..
                },
            ) => assert_eq!((a, m), (b, n)),
            other => panic!("{name}: {other:?}"),
        }
    }
    // A missing function cannot be invoked at all.
    assert!(matches!(
        http.invoke("missing", Value::Null).await,
        Err(Error::Invoke { .. })
    ));

    // The SQS event source drives the function through the endpoint the same way.
    let server = moto().await;
    let client = server.client();
    let account = server.new_account();
    let (queue, _) = create_queue(client, &account, "over-http", json!({})).await;
    send(client, &account, &queue, "ok").await;
    send(client, &account, &queue, "fail").await;
    let mut config = SqsEventSourceConfig::new("interruption", &queue);
    config.wait_time = Duration::ZERO;
    let source = SqsEventSource::new(client.clone(), account, config, Arc::new(http))
        .await
        .expect("event source");
    let outcome = source.poll_once().await.expect("poll");
    assert_eq!(
        (outcome.received, outcome.deleted, outcome.failed),
        (2, 1, 1)
    );
    let sqs_event = received_over_http.lock().expect("lock").last().cloned();
    let records = sqs_event.expect("an SQS event")["Records"].clone();
    assert_eq!(records.as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn template_queues_are_created_with_their_redrive_policy() {
    let template = r#"
Resources:
  DeadLetters:
    Type: AWS::SQS::Queue
  Work:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: nodeless-work
      VisibilityTimeout: 1
      RedrivePolicy: { deadLetterTargetArn: !GetAtt DeadLetters.Arn, maxReceiveCount: 1 }
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Batch:
          Type: SQS
          Properties:
            Queue: !GetAtt Work.Arn
            FunctionResponseTypes: [ReportBatchItemFailures]
"#;
    let sqs = sandbox::actors::sqs::sqs_from_sam_template(template).expect("template");
    let server = moto().await;
    let client = server.client();
    let account = server.new_account();
    let urls = sqs.create_queues(client, &account).await.expect("queues");
    let work = &urls["Work"];
    assert!(work.ends_with("/nodeless-work"), "{work}");
    // Again: CreateQueue with the same attributes is idempotent.
    let again = sqs.create_queues(client, &account).await.expect("again");
    assert_eq!(&again["Work"], work);

    // The mapping polls it; a failure goes to the DLQ after one receive.
    send(client, &account, work, "fail-now").await;
    let source = &sqs.sources[0];
    let mut config = SqsEventSourceConfig::new(&source.function, work);
    config.wait_time = Duration::ZERO;
    config.report_batch_item_failures = source.report_batch_item_failures;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let functions = failing_function(Arc::clone(&seen));
    let functions = InProcess::new().handler("Worker", move |event: Value| {
        let functions = functions.clone();
        async move { functions.invoke("interruption", event).await }
    });
    let mapping = SqsEventSource::new(client.clone(), account.clone(), config, Arc::new(functions))
        .await
        .expect("event source");
    assert_eq!(mapping.poll_once().await.expect("poll").failed, 1);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    assert_eq!(mapping.poll_once().await.expect("poll").received, 0);
    assert_eq!(
        drain_bodies(client, &account, &urls["DeadLetters"]).await,
        ["fail-now"]
    );
}
