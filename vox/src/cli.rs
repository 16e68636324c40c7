//! The command line. Every error ends as one line on stderr and exit code 1.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use eventlog::Log;
use schemas::{ClientId, CollectionId, TenantId, Topic};

use crate::settings::{Secret, Settings, SettingsLayer};
use crate::{admin, audit, grants, inspect, people, push, ruleset, serve};

#[derive(Debug, Parser)]
#[command(
    name = "vox",
    version,
    about = "Vox: an event-sourced pipeline for customer feedback"
)]
pub struct Cli {
    /// TOML configuration file (keys as the long flags, with `_`).
    #[arg(long, env = "VOX_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: SettingsLayer,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every role in one process (embedded SQLite by default).
    Serve,
    /// Run the ingest role (HTTPS) against Kafka.
    Ingest,
    /// Run the people API (HTTPS: logins, sessions, users, groups) against Kafka and PostgreSQL.
    Api,
    /// Run the processor role against Kafka.
    Process,
    /// Run the projector role from Kafka into PostgreSQL.
    Project {
        /// Drop the read models first and rebuild them from offset zero.
        #[arg(long)]
        rebuild: bool,
    },
    /// Migrate the PostgreSQL schema of the read models to this version (as the schema's owner),
    /// for roles that run with --database-migrate false.
    Migrate,
    /// Create and check Vox's Kafka topics (as the admin principal).
    #[command(subcommand)]
    Topics(TopicsCommand),
    /// Manage tenants.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Manage collections.
    #[command(subcommand)]
    Collection(CollectionCommand),
    /// Manage client credentials of customer systems.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Check, publish, show and dry-run a tenant's tagging and redaction rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Manage a tenant's users (invitations, roles, disabling, sessions).
    #[command(subcommand)]
    User(people::UserCommand),
    /// Manage a tenant's groups.
    #[command(subcommand)]
    Group(people::GroupCommand),
    /// Set a tenant's login policy.
    #[command(subcommand)]
    Policy(people::PolicyCommand),
    /// A tenant's single sign-on (SAML 2.0): configure from the IdP's metadata, switch off, show; the SP key.
    #[command(subcommand)]
    Sso(crate::sso::SsoCommand),
    /// Manage the installation's support users and tenants' support access grants.
    #[command(subcommand)]
    Support(people::SupportCommand),
    /// Manage a tenant's feedback access grants (users and groups, collections, tag filters).
    #[command(subcommand)]
    Grant(grants::GrantCommand),
    /// Set or show a tenant's restricted tag names.
    #[command(subcommand)]
    RestrictedTags(grants::RestrictedTagsCommand),
    /// Send a JSON-array or NDJSON file of feedback items to an ingest node.
    Push {
        /// The file (`[...]` JSON array, or one JSON object per line).
        file: PathBuf,
        /// Base URL of an ingest node.
        #[arg(long, env = "VOX_INGEST_URL", default_value = "https://127.0.0.1:8443")]
        url: String,
        /// CA certificate to trust [default: <data-dir>/tls/ca.pem when it exists].
        #[arg(long, env = "VOX_CA_CERT")]
        ca_cert: Option<PathBuf>,
        #[arg(long, env = "VOX_CLIENT_ID")]
        client_id: String,
        #[arg(long, env = "VOX_CLIENT_SECRET", hide_env_values = true)]
        client_secret: Secret,
        /// Items per request.
        #[arg(long, default_value_t = 500)]
        batch_size: usize,
        /// Compress request bodies with gzip.
        #[arg(long)]
        gzip: bool,
        /// All or nothing: a batch with any invalid item appends none.
        #[arg(long)]
        atomic: bool,
    },
    /// The audit logs: run the auditor; make a signing key; replay, verify and export a log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Print read models as NDJSON (an operator tool).
    #[command(subcommand)]
    Inspect(InspectCommand),
    /// Make TLS certificates for the HTTPS listeners.
    #[command(subcommand)]
    Cert(CertCommand),
}

#[derive(Debug, Subcommand)]
enum CertCommand {
    /// Make a local CA and a server certificate signed by it: <dir>/ca.pem (for clients to trust),
    /// <dir>/server.pem and <dir>/server.key (mode 0600) for --tls-cert and --tls-key.
    Create {
        /// Directory for the files (created with mode 0700).
        #[arg(long, default_value = "vox-tls")]
        dir: PathBuf,
        /// A host name or IP address the certificate is for (repeat)
        /// [default: localhost, 127.0.0.1, ::1].
        #[arg(long = "name")]
        names: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TopicsCommand {
    /// Create the missing topics and set the retention of existing ones to these settings.
    ///
    /// Missing topics get the partitions, replication factor, min.insync.replicas and retention of
    /// these settings; existing ones get retention.ms (and segment.ms) set to these settings' when
    /// they differ, their other configs kept. Prints one line per topic: created, corrected or
    /// exists. Run it as the admin principal (Create, DescribeConfigs and AlterConfigs on the
    /// topics) before the roles first start and after changing --raw-retention or
    /// --rejected-retention: the roles never change an existing topic.
    Ensure,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Create a tenant pinned to a region (--region, default eu).
    Create {
        /// Tenant id: lower-case letters, digits, '-' and '_'.
        id: String,
        /// Display name.
        #[arg(long)]
        name: Option<String>,
        /// Succeed without a change when the tenant exists (in the same region).
        #[arg(long)]
        if_not_exists: bool,
    },
    /// List the tenants, one JSON object per line.
    List,
}

#[derive(Debug, Subcommand)]
enum CollectionCommand {
    /// Create a collection in a tenant.
    Create {
        #[arg(long)]
        tenant: String,
        /// Collection id: lower-case letters, digits, '-' and '_'.
        id: String,
        #[arg(long)]
        name: Option<String>,
        /// Succeed without a change when the collection exists.
        #[arg(long)]
        if_not_exists: bool,
    },
    /// List a tenant's collections, one JSON object per line.
    List {
        #[arg(long)]
        tenant: String,
    },
}

#[derive(Debug, Subcommand)]
enum ClientCommand {
    /// Issue a client id and secret; prints `export` lines (the secret only this once).
    Create {
        #[arg(long)]
        tenant: String,
        /// Display name, e.g. the system that will use it.
        #[arg(long, default_value = "client")]
        name: String,
        /// A collection the client may write (repeat; none means all of the tenant's).
        #[arg(long = "collection")]
        collections: Vec<String>,
        /// Issue nothing when the tenant already has a client of this name (prints its id, no secret).
        #[arg(long)]
        if_not_exists: bool,
    },
    /// List a tenant's clients and their secret versions (never the secrets), one JSON object per line.
    List {
        #[arg(long)]
        tenant: String,
    },
    /// Add a new secret; the old ones stay valid until revoked or until --grace ends.
    Rotate {
        #[arg(long)]
        tenant: String,
        client_id: String,
        /// How long the older secrets keep working, e.g. 30m, 24h, 7d [default: until revoked].
        #[arg(long, value_parser = parse_duration)]
        grace: Option<std::time::Duration>,
    },
    /// Revoke one secret version, or the whole credential.
    Revoke {
        #[arg(long)]
        tenant: String,
        client_id: String,
        /// Only this secret version [default: the whole credential].
        #[arg(long)]
        version: Option<i32>,
    },
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// Check a rule set file (no log needed); exit code 2 names every problem.
    Validate { file: PathBuf },
    /// Publish a rule set file as the tenant's next version (a byte-identical file is a no-op).
    Publish {
        #[arg(long)]
        tenant: String,
        file: PathBuf,
        /// Who publishes it, recorded in the event (e.g. your user name or a change id).
        #[arg(long)]
        by: Option<String>,
    },
    /// Print a tenant's live rule set document (or --version N); the version goes to stderr.
    Show {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        version: Option<i32>,
    },
    /// Dry run: the tags and redactions each item would get, naming the rule that fired.
    /// `vox rules test --tenant T [RULES.toml] ITEMS.ndjson` (without RULES.toml: the tenant's live rule set).
    Test {
        #[arg(long)]
        tenant: String,
        /// [RULES.toml] ITEMS.ndjson
        #[arg(num_args = 1..=2, required = true)]
        files: Vec<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum InspectCommand {
    /// Processed feedback of a tenant.
    Feedback {
        #[arg(long)]
        tenant: String,
    },
    /// Dead letters (rejected items) of a tenant.
    Rejected {
        #[arg(long)]
        tenant: String,
    },
}

/// `vox push` exit code when the node rejected some items (0: every item
/// accepted, 1: an error, 2: a usage error or a refused rule set).
pub const EXIT_ITEMS_REJECTED: u8 = 3;

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let server = matches!(
        cli.command,
        Command::Serve
            | Command::Ingest
            | Command::Api
            | Command::Process
            | Command::Project { .. }
            | Command::Audit(audit::AuditCommand::Run)
    );
    // sqlx logs PostgreSQL's notices (such as "relation _sqlx_migrations
    // already exists") at INFO: they are not news to an operator.
    let default_filter = if server { "info,sqlx=warn" } else { "warn" };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("VOX_LOG").unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        // `vox inspect … | head`: the reader went away, which is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, as `{:#}` prints them, but without a cause
/// whose text the line has already (an error that wraps a Kafka error
/// often repeats it in its own message).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let settings = Settings::resolve(cli.settings, cli.config.as_deref())?;
    ::audit::set_node(&settings.instance_id);
    let ns = settings.namespace.clone();
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Serve => {
            let log = settings.open_log().await?;
            let store = settings.open_store().await?;
            let (tls, ca) = tls_config(&settings, true)?;
            let listeners = serve::ServeListeners {
                ingest: bind(&settings).await?,
                api: bind_api(&settings).await?,
            };
            let addr = listeners.ingest.public.local_addr()?;
            let backend = match (&settings.kafka_brokers, &settings.database_url) {
                (None, None) => format!("embedded (data in {})", settings.data_dir.display()),
                _ => "Kafka/PostgreSQL as configured".to_owned(),
            };
            eprintln!("vox serve: {backend}, region {}", settings.region);
            eprintln!("  ingest:  https://{addr}/v1/feedback/batch");
            eprintln!("  api:     https://{}/v1/login", listeners.api.local_addr()?);
            let ops = listeners.ingest.ops.as_ref().and_then(|l| l.local_addr().ok());
            eprintln!(
                "  ops:     https://{}/metrics  /healthz  /readyz",
                ops.unwrap_or(settings.ops_listen)
            );
            if let Some(ca) = ca {
                eprintln!("  trust:   {}  (the CA certificate clients should trust)", ca.display());
            }
            eprintln!("  stop:    Ctrl-C");
            let roles = serve::Roles {
                log,
                store,
                ingest: settings.ingest()?,
                api: settings.api()?,
                auditor: settings.auditor()?,
            };
            eprintln!("  audit:   checkpoints signed by {}", roles.auditor.key.verifier_key());
            serve::run_all(roles, listeners, tls, serve::shutdown_signal("serve")).await?;
        }
        Command::Ingest => {
            settings.require_kafka("ingest")?;
            let log = settings.open_log().await?;
            let (tls, _) = tls_config(&settings, false)?;
            let ingest_settings = settings.ingest()?;
            let listeners = bind(&settings).await?;
            ingest::run(listeners, tls, log, ingest_settings, serve::shutdown_signal("ingest")).await?;
        }
        Command::Api => {
            settings.require_kafka("api")?;
            settings.require_database("api")?;
            let log = settings.open_log().await?;
            let store = settings.open_store().await?;
            let (tls, _) = tls_config(&settings, false)?;
            let api_settings = settings.api()?;
            let address = settings.ops_listen_or(8448);
            let ops = TcpListener::bind(address)
                .await
                .with_context(|| format!("cannot listen on {address}; is another process using it? (--ops-listen)"))?;
            let listeners = https::Listeners {
                public: bind_api(&settings).await?,
                ops: Some(ops),
            };
            let ready = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            api::run(
                listeners,
                tls,
                log,
                store,
                api_settings,
                ready,
                serve::shutdown_signal("api"),
            )
            .await?;
        }
        Command::User(command) => people::user(command, &settings, &mut stdout).await?,
        Command::Group(command) => people::group(command, &settings, &mut stdout).await?,
        Command::Policy(command) => people::policy(command, &settings, &mut stdout).await?,
        Command::Sso(command) => crate::sso::sso(command, &settings, &mut stdout).await?,
        Command::Support(command) => people::support(command, &settings, &mut stdout).await?,
        Command::Grant(command) => grants::grant(command, &settings, &mut stdout).await?,
        Command::RestrictedTags(command) => grants::restricted_tags(command, &settings, &mut stdout).await?,
        Command::Process => {
            settings.require_kafka("process")?;
            let log = settings.open_log().await?;
            let p = processor::ProcessorSettings::new(settings.region.clone(), ns);
            let ready = https::ops::flag(p.ready.clone(), "reading the configuration and joining the group");
            let ops = OpsListener::start(&settings, 8445, ready).await?;
            let result = processor::run(log, p, serve::shutdown_signal("process")).await;
            ops.stop().await;
            result?;
        }
        Command::Project { rebuild } => {
            settings.require_kafka("project")?;
            settings.require_database("project")?;
            let log = settings.open_log().await?;
            let store = settings.open_store().await?;
            if rebuild {
                store.reset().await?;
                tracing::info!("read models dropped; rebuilding from offset zero");
            }
            let p = projector::ProjectorSettings::new(ns);
            let ready = https::ops::flag(p.ready.clone(), "reading the stored offsets");
            let ops = OpsListener::start(&settings, 8446, ready).await?;
            let result = projector::run(log, store, p, serve::shutdown_signal("project")).await;
            ops.stop().await;
            result?;
        }
        Command::Migrate => {
            settings.require_database("migrate")?;
            let url = settings.database_url.as_ref().expect("require_database checked it");
            store::Store::connect_postgres(url.expose()).await?;
            writeln!(stdout, "migrated {}", settings.store_description())?;
        }
        Command::Topics(TopicsCommand::Ensure) => topics_ensure(&settings, &mut stdout).await?,
        Command::Tenant(TenantCommand::Create {
            id,
            name,
            if_not_exists,
        }) => {
            let id = TenantId::parse(&id)?;
            let log = settings.open_log().await?;
            let name = name.unwrap_or_else(|| id.to_string());
            let existing = admin::directory(&log, &ns).await?.tenant(id.as_str()).cloned();
            match existing {
                Some(t) if if_not_exists && t.region == settings.region => {
                    writeln!(stdout, "tenant {id} exists, pinned to region {}", t.region)?;
                }
                _ => {
                    admin::create_tenant(&log, &ns, &id, &name, &settings.region).await?;
                    writeln!(
                        stdout,
                        "created tenant {id} ({name}), pinned to region {}",
                        settings.region
                    )?;
                }
            }
        }
        Command::Tenant(TenantCommand::List) => {
            let log = settings.open_log().await?;
            let directory = admin::directory(&log, &ns).await?;
            let mut tenants: Vec<_> = directory.tenants().collect();
            tenants.sort_by(|a, b| a.id.cmp(&b.id));
            for t in tenants {
                let line = serde_json::json!({"id": t.id, "name": t.name, "region": t.region,
                    "collections": t.collections.len()});
                writeln!(stdout, "{line}")?;
            }
        }
        Command::Collection(CollectionCommand::Create {
            tenant,
            id,
            name,
            if_not_exists,
        }) => {
            let (tenant, id) = (TenantId::parse(&tenant)?, CollectionId::parse(&id)?);
            let log = settings.open_log().await?;
            let name = name.unwrap_or_else(|| id.to_string());
            let exists = admin::directory(&log, &ns)
                .await?
                .tenant(tenant.as_str())
                .is_some_and(|t| t.collections.contains_key(&id));
            if exists && if_not_exists {
                writeln!(stdout, "collection {id} exists in tenant {tenant}")?;
            } else {
                admin::create_collection(&log, &ns, &tenant, &id, &name).await?;
                writeln!(stdout, "created collection {id} in tenant {tenant}")?;
            }
        }
        Command::Collection(CollectionCommand::List { tenant }) => {
            let log = settings.open_log().await?;
            let directory = admin::directory(&log, &ns).await?;
            let t = directory
                .tenant(&tenant)
                .ok_or_else(|| directory::ConfigError::UnknownTenant(tenant.clone()))?;
            for c in t.collections.values() {
                writeln!(stdout, "{}", serde_json::json!({"id": c.id, "name": c.name}))?;
            }
        }
        Command::Client(ClientCommand::Create {
            tenant,
            name,
            collections,
            if_not_exists,
        }) => {
            let tenant = TenantId::parse(&tenant)?;
            let collections = collections
                .iter()
                .map(|c| CollectionId::parse(c))
                .collect::<Result<Vec<_>, _>>()?;
            let log = settings.open_log().await?;
            let directory = admin::directory(&log, &ns).await?;
            let existing = directory
                .clients()
                .find(|c| c.tenant_id == tenant && c.name == name && !c.revoked)
                .map(|c| c.client_id.clone());
            match existing {
                Some(client_id) if if_not_exists => {
                    writeln!(stdout, "export VOX_CLIENT_ID={client_id}")?;
                    eprintln!(
                        "Client {client_id} ({name}) of tenant {tenant} exists; no new secret was issued \
                         (`vox client rotate` issues one)."
                    );
                }
                _ => {
                    let issued =
                        admin::create_client(&log, &ns, &settings.kek()?, &tenant, &name, &collections).await?;
                    print_credential(&mut stdout, tenant.as_str(), &issued)?;
                }
            }
        }
        Command::Client(ClientCommand::List { tenant }) => {
            let log = settings.open_log().await?;
            let directory = admin::directory(&log, &ns).await?;
            if directory.tenant(&tenant).is_none() {
                return Err(directory::ConfigError::UnknownTenant(tenant).into());
            }
            let mut clients: Vec<_> = directory.clients().filter(|c| c.tenant_id == tenant.as_str()).collect();
            clients.sort_by(|a, b| a.client_id.cmp(&b.client_id));
            let now = schemas::clock::now_micros();
            for c in clients {
                let active: Vec<i32> = c
                    .secrets
                    .iter()
                    .filter(|(_, s)| !c.revoked && s.active_at(now))
                    .map(|(v, _)| *v)
                    .collect();
                let line = serde_json::json!({"client_id": c.client_id, "name": c.name,
                    "collections": c.collections, "revoked": c.revoked,
                    "active_secret_versions": active, "highest_secret_version": c.highest_version});
                writeln!(stdout, "{line}")?;
            }
        }
        Command::Client(ClientCommand::Rotate {
            tenant,
            client_id,
            grace,
        }) => {
            let (tenant, client_id) = (TenantId::parse(&tenant)?, ClientId::parse(&client_id)?);
            let log = settings.open_log().await?;
            let issued = admin::rotate_client(&log, &ns, &settings.kek()?, &tenant, &client_id, grace).await?;
            print_credential(&mut stdout, tenant.as_str(), &issued)?;
        }
        Command::Client(ClientCommand::Revoke {
            tenant,
            client_id,
            version,
        }) => {
            let (tenant, client_id) = (TenantId::parse(&tenant)?, ClientId::parse(&client_id)?);
            let log = settings.open_log().await?;
            admin::revoke_client(&log, &ns, &tenant, &client_id, version).await?;
            match version {
                Some(v) => writeln!(stdout, "revoked secret version {v} of client {client_id}")?,
                None => writeln!(stdout, "revoked client {client_id}")?,
            }
        }
        Command::Rules(command) => match rules_command(command, &settings, &mut stdout).await {
            Ok(()) => {}
            Err(e) => match e.downcast::<ruleset::Refused>() {
                Ok(refused) => {
                    eprintln!("error: {refused}");
                    return Ok(ExitCode::from(ruleset::EXIT_INVALID));
                }
                Err(e) => return Err(e),
            },
        },
        Command::Push {
            file,
            url,
            ca_cert,
            client_id,
            client_secret,
            batch_size,
            gzip,
            atomic,
        } => {
            let ca_cert = ca_cert.or_else(|| Some(settings.data_dir.join("tls/ca.pem")).filter(|p| p.exists()));
            let items = push::read_items(&file)?;
            let options = push::PushOptions {
                url,
                ca_cert,
                client_id,
                client_secret,
                batch_size,
                gzip,
                atomic,
            };
            let summary = push::push(&options, &items, &mut stdout).await?;
            eprintln!(
                "{} accepted, {} rejected, in {} batch(es)",
                summary.accepted, summary.rejected, summary.batches
            );
            if summary.rejected > 0 {
                return Ok(ExitCode::from(EXIT_ITEMS_REJECTED));
            }
        }
        Command::Audit(audit::AuditCommand::Run) => {
            settings.require_kafka("audit run")?;
            settings.require_database("audit run")?;
            let log = settings.open_log().await?;
            let store = settings.open_store().await?;
            let a = settings.auditor()?;
            let ready = https::ops::flag(a.ready.clone(), "reading the stored audit logs");
            let ops = OpsListener::start(&settings, 8449, ready).await?;
            let result = auditor::run(log, store, a, serve::shutdown_signal("audit run")).await;
            ops.stop().await;
            result?;
        }
        Command::Audit(audit::AuditCommand::Keygen { name, out }) => {
            let key = auditlog::SigningKey::generate(&name)?;
            auditor::keyfile::write_new(&out, &key)?;
            eprintln!(
                "wrote the signing key to {} (mode 0600): give it to the auditor (--audit-key-file) and keep it secret",
                out.display()
            );
            eprintln!("the verifier key (give it to compliance teams; `vox audit verify --verifier-key`):");
            writeln!(stdout, "{}", key.verifier_key())?;
        }
        Command::Audit(audit::AuditCommand::Replay {
            tenant,
            since,
            until,
            action,
        }) => {
            let log = settings.open_log().await?;
            audit::check_log(admin::directory(&log, &ns).await?.tenant(&tenant).is_some(), &tenant)?;
            let store = settings.open_store().await?;
            let n = audit::replay(&store, &tenant, since.as_deref(), until.as_deref(), action, &mut stdout).await?;
            eprintln!("{n} record(s) of log {tenant}");
        }
        Command::Audit(audit::AuditCommand::Verify {
            tenant,
            checkpoint,
            verifier_key,
        }) => {
            let key = audit::verifier_key(&settings, verifier_key.as_deref())?;
            let saved = match &checkpoint {
                Some(path) => Some(
                    std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read the saved checkpoint {}", path.display()))?,
                ),
                None => None,
            };
            let log = settings.open_log().await?;
            audit::check_log(admin::directory(&log, &ns).await?.tenant(&tenant).is_some(), &tenant)?;
            let store = settings.open_store().await?;
            match auditor::verify(&store, &tenant, &key, saved.as_deref()).await {
                Ok(v) => {
                    writeln!(
                        stdout,
                        "OK {} size={} root={} checkpoints={} latest_checkpoint={}{}",
                        v.origin,
                        v.size,
                        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, v.root.0),
                        v.checkpoints,
                        v.latest_checkpoint.map_or("none".to_owned(), |s| s.to_string()),
                        v.saved.map_or(String::new(), |s| format!(" saved_checkpoint={s}"))
                    )?;
                }
                Err(auditor::VerifyError::Diverges(d)) => {
                    writeln!(stdout, "FAIL {d}")?;
                    return Ok(ExitCode::from(audit::EXIT_DIVERGES));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Command::Audit(audit::AuditCommand::Export {
            tenant,
            out,
            verifier_key,
        }) => {
            let key = audit::verifier_key(&settings, verifier_key.as_deref())?;
            let log = settings.open_log().await?;
            audit::check_log(admin::directory(&log, &ns).await?.tenant(&tenant).is_some(), &tenant)?;
            let store = settings.open_store().await?;
            let summary = auditor::export(&store, &tenant, &key, &out).await?;
            writeln!(
                stdout,
                "exported {} record(s) of log {tenant} to {} (checkpoint of size {})",
                summary.records,
                out.display(),
                summary.checkpoint_size
            )?;
        }
        Command::Inspect(command) => {
            let (tenant, rejected) = match command {
                InspectCommand::Feedback { tenant } => (tenant, false),
                InspectCommand::Rejected { tenant } => (tenant, true),
            };
            // The tenant must exist: an empty answer for a typo says nothing.
            let log = settings.open_log().await?;
            if admin::directory(&log, &ns).await?.tenant(&tenant).is_none() {
                return Err(directory::ConfigError::UnknownTenant(tenant).into());
            }
            let store = settings.open_store().await?;
            eprintln!("vox inspect: reading {}", settings.store_description());
            if rejected {
                inspect::rejected(&store, &tenant, &mut stdout).await?;
            } else {
                inspect::feedback(&store, &tenant, &mut stdout).await?;
            }
        }
        Command::Cert(CertCommand::Create { dir, names }) => {
            let names = if names.is_empty() {
                vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()]
            } else {
                names
            };
            let files = https::tls::create_certificate(&dir, &names)?;
            writeln!(
                stdout,
                "made a CA and a certificate for {}:\n  --tls-cert {}\n  --tls-key {}\n  clients trust: {} (vox push --ca-cert)",
                names.join(", "),
                files.server_cert.display(),
                files.server_key.display(),
                files.ca_cert.display()
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `vox topics ensure`: one line per topic on stdout; an error (exit 1)
/// after them when a topic could not be created or its retention not
/// checked.
async fn topics_ensure(settings: &Settings, stdout: &mut impl Write) -> anyhow::Result<()> {
    let topics: Vec<String> = Topic::ALL.iter().map(|t| t.name(&settings.namespace)).collect();
    let log = settings.open_topic_admin_log().await?;
    let kafka = match &log {
        Log::Kafka(kafka) => kafka,
        Log::Sqlite(_) => {
            log.ensure_topics(&topics).await?;
            for topic in &topics {
                writeln!(stdout, "exists {topic}")?;
            }
            writeln!(
                stdout,
                "(the embedded log {}: a running Vox deletes expired records itself)",
                settings.data_dir.join("log.sqlite").display()
            )?;
            return Ok(());
        }
    };
    let report = kafka.ensure_topics_reporting(&topics).await?;
    let retention = |topic: &str| kafka.settings().retention_ms(topic);
    for topic in &topics {
        if report.created.contains(topic) {
            writeln!(stdout, "created {topic} (retention.ms {})", retention(topic))?;
        } else if let Some(c) = report.corrected.iter().find(|c| c.topic == *topic) {
            let from = c.from.map_or_else(|| "unset".to_owned(), |ms| ms.to_string());
            writeln!(stdout, "corrected {topic} (retention.ms {from} -> {})", c.to)?;
        } else if report.existing.contains(topic) {
            writeln!(stdout, "exists {topic} (retention.ms {})", retention(topic))?;
        }
    }
    let principal = settings.kafka_security.sasl_username.as_deref().map_or_else(
        || "this Kafka principal".to_owned(),
        |u| format!("Kafka principal User:{u}"),
    );
    let list = |topics: &[String]| topics.join(", ");
    if !report.not_visible.is_empty() {
        anyhow::bail!(
            "{principal} may neither describe nor create {}: run `vox topics ensure` as the admin principal \
             (Create, DescribeConfigs and AlterConfigs on every topic; deploy/kafka/acls.sh)",
            list(&report.not_visible)
        );
    }
    if !report.retention_unchecked.is_empty() {
        anyhow::bail!(
            "{principal} may not read or set the retention of {} (no DescribeConfigs or AlterConfigs ACL): \
             run `vox topics ensure` as the admin principal (deploy/kafka/acls.sh)",
            list(&report.retention_unchecked)
        );
    }
    Ok(())
}

async fn rules_command(command: RulesCommand, settings: &Settings, stdout: &mut impl Write) -> anyhow::Result<()> {
    let ns = &settings.namespace;
    match command {
        RulesCommand::Validate { file } => {
            let rules = ruleset::compile(&file, 1)??;
            writeln!(stdout, "{}: valid; {}", file.display(), ruleset::summary(&rules))?;
        }
        RulesCommand::Publish { tenant, file, by } => {
            let tenant = TenantId::parse(&tenant).map_err(|e| ruleset::Refused::Config(e.into()))?;
            let document = ruleset::read_document(&file)??;
            // Checked here first: a refused file never touches the log.
            rules::RuleSet::compile(&document, 1).map_err(|invalid| ruleset::Refused::Invalid {
                path: file.display().to_string(),
                invalid,
            })?;
            let log = settings.open_log().await?;
            let published = match admin::publish_rules(&log, ns, &tenant, &document, by.as_deref()).await {
                Err(admin::AdminError::Invalid(e)) => return Err(ruleset::Refused::Config(e).into()),
                other => other?,
            };
            match published {
                admin::Published::New(v) => writeln!(stdout, "published rule set version {v} for tenant {tenant}")?,
                admin::Published::Unchanged(v) => writeln!(
                    stdout,
                    "unchanged: {} is byte-identical to live version {v} of tenant {tenant}; nothing was published",
                    file.display()
                )?,
            }
        }
        RulesCommand::Show { tenant, version } => {
            let log = settings.open_log().await?;
            let directory = admin::directory(&log, ns).await?;
            ruleset::known_tenant(&directory, &tenant)?;
            let versions = directory.rule_set_versions(&tenant);
            let chosen = match version {
                Some(v) => versions.iter().find(|p| p.version == v).with_context(|| {
                    format!(
                        "tenant {tenant} has no rule set version {v}; its versions are 1 to {}",
                        versions.len()
                    )
                })?,
                None => match versions.last() {
                    Some(p) => p,
                    None => {
                        eprintln!(
                            "tenant {tenant} has published no rule set: version 0 (the defaults: built-in tags and \
                             every redaction detector on, no rules) is live"
                        );
                        return Ok(());
                    }
                },
            };
            eprintln!(
                "tenant {tenant}, rule set version {} of {}{}",
                chosen.version,
                versions.len(),
                chosen
                    .published_by
                    .as_deref()
                    .map(|b| format!(", published by {b}"))
                    .unwrap_or_default()
            );
            stdout.write_all(chosen.document.as_bytes())?;
        }
        RulesCommand::Test { tenant, files } => {
            let (rules_file, items_file) = match files.as_slice() {
                [items] => (None, items),
                [rules, items] => (Some(rules), items),
                _ => unreachable!("clap takes one or two files"),
            };
            let rules = match rules_file {
                Some(path) => std::sync::Arc::new(ruleset::compile(path, 0)??),
                None => {
                    let log = settings.open_log().await?;
                    let directory = admin::directory(&log, ns).await?;
                    ruleset::known_tenant(&directory, &tenant)?;
                    directory
                        .live_rules(&tenant)
                        .map_err(|invalid| ruleset::Refused::Invalid {
                            path: format!("the live rule set of tenant {tenant}"),
                            invalid,
                        })?
                }
            };
            let items = push::read_items(items_file)?;
            eprintln!("vox rules test: {}, {} item(s)", ruleset::summary(&rules), items.len());
            ruleset::dry_run(&rules, &items, stdout)?;
        }
    }
    Ok(())
}

fn print_credential(out: &mut impl Write, tenant: &str, issued: &admin::IssuedCredential) -> anyhow::Result<()> {
    writeln!(out, "export VOX_CLIENT_ID={}", issued.client_id)?;
    writeln!(out, "export VOX_CLIENT_SECRET={}", issued.secret.expose())?;
    eprintln!(
        "Client {} of tenant {tenant}, secret version {}. The secret is shown only this once: store it now \
         (or run this command inside eval \"$(...)\").",
        issued.client_id, issued.secret_version
    );
    Ok(())
}

/// The operations listener of a role without a public listener (`vox
/// process`, `vox project`): HTTPS on --ops-listen (default port 8445 and
/// 8446 on loopback), with --tls-cert and --tls-key, or a local certificate
/// in the data directory without them.
struct OpsListener {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl OpsListener {
    async fn start(
        settings: &Settings,
        default_port: u16,
        ready: https::ops::Readiness,
    ) -> anyhow::Result<OpsListener> {
        // The recorder goes in before the role counts anything.
        https::telemetry::handle();
        let (tls, _) = tls_config(settings, true)?;
        let address = settings.ops_listen_or(default_port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}; is another process using it? (--ops-listen)"))?;
        tracing::info!(ops = ?listener.local_addr().ok(), "operations listener: /metrics /healthz /readyz");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let token = settings.ops_token.clone();
        let task = tokio::spawn(https::ops::serve(listener, tls, ready, token, async move {
            let _ = stopped.await;
        }));
        Ok(OpsListener { stop, task })
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Err(e)) => tracing::warn!(error = %e, "the operations listener failed"),
            Err(e) => tracing::warn!(error = %e, "the operations listener panicked"),
            Ok(Ok(())) => {}
        }
    }
}

async fn bind_api(settings: &Settings) -> anyhow::Result<TcpListener> {
    TcpListener::bind(settings.api_listen).await.with_context(|| {
        format!(
            "cannot listen on {}; is another process using it? (--api-listen)",
            settings.api_listen
        )
    })
}

async fn bind(settings: &Settings) -> anyhow::Result<ingest::Listeners> {
    let public = TcpListener::bind(settings.listen).await.with_context(|| {
        format!(
            "cannot listen on {}; is another process using it? (--listen)",
            settings.listen
        )
    })?;
    let ops = TcpListener::bind(settings.ops_listen).await.with_context(|| {
        format!(
            "cannot listen on {}; is another process using it? (--ops-listen)",
            settings.ops_listen
        )
    })?;
    Ok(ingest::Listeners { public, ops: Some(ops) })
}

/// `30s`, `15m`, `24h`, `7d` (as every duration setting); at most 365 days.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let crate::settings::HumanDuration(duration) = text.parse()?;
    let max = admin::MAX_GRACE;
    if duration > max {
        return Err(format!(
            "'{text}' is longer than the limit of {} days",
            max.as_secs() / 86_400
        ));
    }
    Ok(duration)
}

/// The listener's TLS configuration; `generate` allows a local certificate
/// in the data directory (the embedded default).
fn tls_config(
    settings: &Settings,
    generate: bool,
) -> anyhow::Result<(std::sync::Arc<rustls::ServerConfig>, Option<PathBuf>)> {
    match (&settings.tls_cert, &settings.tls_key) {
        (Some(cert), Some(key)) => Ok((https::tls::server_config(cert, key)?, None)),
        (None, None) if generate => {
            let files = https::tls::ensure_local_certificate(&settings.data_dir.join("tls"))?;
            Ok((
                https::tls::server_config(&files.server_cert, &files.server_key)?,
                Some(files.ca_cert),
            ))
        }
        _ => anyhow::bail!(
            "HTTPS needs a certificate: pass both --tls-cert and --tls-key (PEM files); plain HTTP is not offered"
        ),
    }
}
