//! `ticketbooth result add`: report a result against a ticket, then print the verdict it
//! leaves the ticket with.

use serde_json::{Map, Value, json};

use super::args::ResultAddArgs;
use super::client::{CliError, Client};
use super::tables;

pub async fn add(args: &ResultAddArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let token = client.token()?.to_owned();
    let ticket = client.ticket(&args.ticket).await?;
    let id = ticket["id"].as_str().unwrap_or_default();
    let mut body = Map::new();
    body.insert("kind".into(), json!(args.kind));
    body.insert("accuracy".into(), json!(args.accuracy));
    for (k, v) in [
        ("seed", args.seed.map(Value::from)),
        ("steps", args.steps.map(Value::from)),
        ("dataset", args.dataset.clone().map(Value::from)),
        ("metric", args.metric.clone().map(Value::from)),
        ("scope", args.scope.clone().map(Value::from)),
        ("framework", args.framework.clone().map(Value::from)),
        ("hardware", args.hardware.clone().map(Value::from)),
        ("code_url", args.code_url.clone().map(Value::from)),
        ("notes", args.notes.clone().map(Value::from)),
    ] {
        if let Some(v) = v {
            body.insert(k.into(), v);
        }
    }
    let response = client
        .http
        .post(client.url(&format!("/api/v1/tickets/{id}/results")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .map_err(|e| client.network(e))?;
    if !response.status().is_success() {
        return Err(Client::error_of(response).await);
    }
    let answer: Value = response.json().await.map_err(|e| client.network(e))?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&answer).unwrap_or_default()
        );
    } else {
        println!(
            "Reported {} {} for {}/{} (result {})",
            args.kind,
            tables::accuracy(&answer["result"]["accuracy"]),
            ticket["owner"].as_str().unwrap_or_default(),
            ticket["name"].as_str().unwrap_or_default(),
            answer["result"]["id"].as_str().unwrap_or_default(),
        );
        tables::print_evidence(&answer["evidence"]);
    }
    Ok(())
}
