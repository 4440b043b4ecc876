//! The command-line client: the same binary, talking to a registry over its public REST API.
//! Server errors print as one sentence and exit 1; usage errors exit 2 (clap); no panics.

pub mod args;
mod client;
mod download;
mod results;
mod settings;
pub(crate) mod tables;
mod upload;

pub use client::{CliError, Client};

use args::{
    ClientArgs, CompareArgs, CompatibleArgs, DownloadArgs, FrontierArgs, ResultCommand, SearchArgs,
    UploadArgs,
};

pub async fn login(server: &str, token: &str) -> Result<(), CliError> {
    let path = settings::save(server, token)?;
    // Check the pair works, so a typo shows now rather than at the first upload.
    let client = Client::new(&ClientArgs {
        server: Some(server.to_owned()),
        token: Some(token.to_owned()),
    })?;
    client.check().await?;
    println!("Saved {server} in {}", path.display());
    Ok(())
}

pub async fn upload(args: &UploadArgs) -> Result<(), CliError> {
    upload::run(args).await
}

pub async fn download(args: &DownloadArgs) -> Result<(), CliError> {
    download::run(args).await
}

/// `ticketbooth compatible FILE`: the tickets that fit the model in FILE (same fingerprint).
pub async fn compatible(args: &CompatibleArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let head = upload::read_header_bytes(&args.file)?;
    let response = client
        .http
        .post(client.url("/api/v1/compatible"))
        .query(&[("limit", args.limit.to_string())])
        .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
        .body(head)
        .send()
        .await
        .map_err(|e| client.network(e))?;
    if !response.status().is_success() {
        return Err(Client::error_of(response).await);
    }
    let page: serde_json::Value = response.json().await.map_err(|e| client.network(e))?;
    if !args.json {
        println!(
            "fingerprint {}",
            page["fingerprint"].as_str().unwrap_or_default()
        );
    }
    let filters = [(
        "fingerprint",
        page["fingerprint"].as_str().unwrap_or_default().to_owned(),
    )];
    tables::print_tickets(&page["items"], args.json, &filters);
    Ok(())
}

pub async fn compare(args: &CompareArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let query = [("a", args.a.clone()), ("b", args.b.clone())];
    let answer = client.get_json("/api/v1/compare", &query).await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&answer).unwrap_or_default()
        );
    } else {
        tables::print_comparison(&answer);
    }
    Ok(())
}

pub async fn result(command: &ResultCommand) -> Result<(), CliError> {
    match command {
        ResultCommand::Add(args) => results::add(args).await,
    }
}

pub async fn search(args: &SearchArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let mut query: Vec<(&str, String)> = Vec::new();
    let filters = args.shape.pairs().into_iter().chain([
        ("owner", args.owner.clone()),
        ("q", args.query.clone()),
        ("min_sparsity", args.min_sparsity.map(|x| x.to_string())),
        ("max_sparsity", args.max_sparsity.map(|x| x.to_string())),
        ("min_accuracy", args.min_accuracy.map(|x| x.to_string())),
        ("max_accuracy", args.max_accuracy.map(|x| x.to_string())),
    ]);
    for (k, v) in filters {
        if let Some(v) = v {
            query.push((k, v));
        }
    }
    for tag in &args.tag {
        query.push(("tag", tag.clone()));
    }
    // What narrows the set, for the "no tickets match" line; sort and paging do not.
    let filters = query.clone();
    for (k, v) in [("sort", &args.sort), ("order", &args.order)] {
        if let Some(v) = v {
            query.push((k, v.clone()));
        }
    }
    query.push(("limit", args.limit.to_string()));
    let page = client.get_json("/api/v1/tickets", &query).await?;
    tables::print_tickets(&page["items"], args.json, &filters);
    Ok(())
}

pub async fn show(ticket: &str, client: &ClientArgs, json: bool) -> Result<(), CliError> {
    let client = Client::new(client)?;
    let t = client.ticket(ticket).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&t).unwrap_or_default());
    } else {
        tables::print_ticket(&t);
    }
    Ok(())
}

pub async fn frontier(args: &FrontierArgs) -> Result<(), CliError> {
    let client = Client::new(&args.client)?;
    let mut query = vec![("task", args.task.clone())];
    for (k, v) in [
        ("dataset", &args.dataset),
        ("architecture", &args.architecture),
        ("metric", &args.metric),
    ] {
        if let Some(v) = v {
            query.push((k, v.clone()));
        }
    }
    let page = client.get_json("/api/v1/frontier", &query).await?;
    tables::print_tickets(&page["items"], args.json, &query);
    Ok(())
}
