//! `system.ports`: the TCP listeners on the guide's ports and the processes holding them
//! (guide: Démarrage P1, "sudo ss -tulpn | grep -E ':(80|443|25|587|143|3000|5432|6379)'").
//!
//! The listeners come from `/proc/net/tcp` and `/proc/net/tcp6` (state `0A`, streamed line
//! by line: a busy server's thousands of connections are never held in memory), their owners
//! from the socket inodes in `/proc/PID/fd`. A process whose fd table cannot be read (not
//! root) leaves its sockets' owner unknown, which the summary says.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::settings::ExpectedPort;
use crate::checks::{step, Ctx, Outcome, Step};
use crate::model::{Metric, Remedy, Status};
use crate::{tr, Lang};

/// Bytes of one `/proc/net/tcp` line kept (a real one is about 150).
const MAX_LINE: u64 = 512;
/// Processes whose fd tables are read at most (a fork bomb does not stall the check).
const MAX_PROCESSES: usize = 100_000;
/// Holders of one socket kept (nginx may have one worker per CPU).
const MAX_OWNERS: usize = 16;

/// Generic remedy of `system.ports`.
pub(super) const PORTS_STEPS: &[Step] = &[
    step!(
        "See which processes listen on the platform's ports",
        "Voir quels processus écoutent sur les ports de la plateforme",
        guide = "Démarrage P1",
        cmd = "ss -tlnp | grep -E ':(80|443|25|587|143|3000|5432|6379)\\b'"
    ),
    step!(
        "Identify the process holding a port",
        "Identifier le processus qui occupe un port",
        guide = "Démarrage P1",
        cmd = "lsof -i :80"
    ),
    step!(
        "Stop the conflicting service (interrupts it)",
        "Arrêter le service en conflit (l'interrompt)",
        guide = "Démarrage P1",
        cmd = "systemctl stop nginx apache2",
        destructive = true
    ),
    step!(
        "Recreate the containers so that they publish their ports (interrupts service)",
        "Recréer les conteneurs pour qu'ils publient leurs ports (interrompt le service)",
        guide = "Démarrage P1",
        cmd = "{docker.compose} down && {docker.compose} up -d",
        destructive = true
    ),
];

/// Remedy of an expected port that nothing listens on.
const FREE_STEPS: &[Step] = &[
    step!(
        "See which services are up",
        "Voir quels services tournent",
        guide = "Démarrage P1",
        cmd = "{docker.compose} ps"
    ),
    step!(
        "Start the stack",
        "Démarrer la pile",
        guide = "Démarrage P1",
        cmd = "{docker.compose} up -d"
    ),
    step!(
        "Read the logs of a service that does not start",
        "Lire les logs d'un service qui ne démarre pas",
        guide = "Démarrage P4",
        cmd = "{docker.compose} logs --tail=50 api"
    ),
];

/// A TCP socket in the LISTEN state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    /// Local address (`0.0.0.0` / `::` for every address).
    pub address: IpAddr,
    /// Local port.
    pub port: u16,
    /// Socket inode (links it to its process).
    pub inode: u64,
    /// The processes holding it (a daemon's master and the children it passed the socket to:
    /// Postfix's `master` and `smtpd`, nginx's master and workers); empty when none could be seen.
    pub owners: Vec<Owner>,
}

/// A process holding a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// Process id.
    pub pid: u32,
    /// Its name (`/proc/PID/comm`: at most 15 characters).
    pub name: String,
}

/// The host's TCP listeners.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Listeners {
    /// Every listening socket.
    pub listeners: Vec<Listener>,
    /// Processes whose fd table could not be read (permission): their sockets' owners are unknown.
    pub unreadable_processes: usize,
}

/// Reads the LISTEN sockets of one `/proc/net/tcp`-format table into `out`. Lines longer than
/// [`MAX_LINE`] or not in the kernel's format are skipped.
///
/// # Errors
/// When the table cannot be read.
pub fn parse_tcp_table(reader: impl BufRead, out: &mut Vec<Listener>) -> std::io::Result<()> {
    let mut reader = reader;
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        let n = (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(());
        }
        if !line.ends_with(b"\n") && n as u64 == MAX_LINE {
            // Too long: not the kernel's; skip to the end of the line.
            let mut rest = Vec::new();
            while (&mut reader).take(MAX_LINE).read_until(b'\n', &mut rest)? as u64 == MAX_LINE
                && !rest.ends_with(b"\n")
            {
                rest.clear();
            }
            continue;
        }
        if let Some(l) = parse_tcp_line(&String::from_utf8_lossy(&line)) {
            out.push(l);
        }
    }
}

/// One line of `/proc/net/tcp{,6}`: `sl local rem st ... uid timeout inode`; LISTEN only.
fn parse_tcp_line(line: &str) -> Option<Listener> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 || f[3] != "0A" {
        return None;
    }
    let (addr, port) = f[1].split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let inode = f[9].parse().ok()?;
    Some(Listener {
        address: parse_hex_addr(addr)?,
        port,
        inode,
        owners: Vec::new(),
    })
}

/// An address as the kernel prints it: 32-bit words in host byte order, in hex.
fn parse_hex_addr(hex: &str) -> Option<IpAddr> {
    let word = |i: usize| {
        hex.get(i * 8..i * 8 + 8)
            .and_then(|w| u32::from_str_radix(w, 16).ok())
            .map(u32::to_ne_bytes)
    };
    match hex.len() {
        8 => Some(IpAddr::V4(Ipv4Addr::from(word(0)?))),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            let v6 = Ipv6Addr::from(b);
            // A v4 address on a v6 socket (`::ffff:a.b.c.d`) is shown as the v4 address.
            Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
        }
        _ => None,
    }
}

/// The host's listeners and their owners, from `proc` (normally `/proc`). Blocking.
///
/// # Errors
/// When neither TCP table can be read.
pub fn listeners(proc: &Path) -> Result<Listeners, String> {
    let mut found = Vec::new();
    let mut read_any = false;
    let mut why = Vec::new();
    for table in ["net/tcp", "net/tcp6"] {
        let path = proc.join(table);
        match std::fs::File::open(&path)
            .and_then(|f| parse_tcp_table(std::io::BufReader::new(f), &mut found))
        {
            Ok(()) => read_any = true,
            // No IPv6 on this kernel: nothing listens there.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && table == "net/tcp6" => {}
            Err(e) => why.push(format!("{}: {e}", path.display())),
        }
    }
    if !read_any {
        return Err(why.join("; "));
    }
    let inodes: HashSet<u64> = found.iter().map(|l| l.inode).collect();
    let (owners, unreadable) = socket_owners(proc, &inodes);
    for l in &mut found {
        l.owners = owners.get(&l.inode).cloned().unwrap_or_default();
    }
    found.sort_by_key(|l| (l.port, l.address));
    found.dedup_by(|a, b| a.inode == b.inode);
    Ok(Listeners {
        listeners: found,
        unreadable_processes: unreadable,
    })
}

/// Holders of the socket inodes wanted: every process's fd table is read, once.
fn socket_owners(proc: &Path, wanted: &HashSet<u64>) -> (HashMap<u64, Vec<Owner>>, usize) {
    let mut owners: HashMap<u64, Vec<Owner>> = HashMap::new();
    let mut unreadable = 0;
    let Ok(entries) = std::fs::read_dir(proc) else {
        return (owners, unreadable);
    };
    for e in entries.flatten().take(MAX_PROCESSES) {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(e.path().join("fd")) else {
            unreadable += 1;
            continue;
        };
        let mut name = None;
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let Some(inode) = target
                .to_str()
                .and_then(|t| t.strip_prefix("socket:["))
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|t| t.parse::<u64>().ok())
            else {
                continue;
            };
            if wanted.contains(&inode) {
                let name = name.get_or_insert_with(|| {
                    crate::fs::read_capped(&e.path().join("comm"), 64)
                        .map(|s| s.trim().to_owned())
                        .unwrap_or_else(|_| "?".into())
                });
                let holders = owners.entry(inode).or_default();
                // Past the cap, a process of a name not seen yet still counts (up to twice the
                // cap): a server's master beside its many workers (Postfix's smtpd under load).
                let room = holders.len() < MAX_OWNERS || (holders.len() < 2 * MAX_OWNERS && !holders.iter().any(|o| o.name == *name));
                if room && !holders.iter().any(|o| o.pid == pid) {
                    holders.push(Owner {
                        pid,
                        name: name.clone(),
                    });
                }
            }
        }
    }
    (owners, unreadable)
}

/// Whether a listener serves an expected port: same port, and the expected address, the
/// wildcard, or any address when none is expected.
fn serves(l: &Listener, want: &ExpectedPort) -> bool {
    l.port == want.port
        && want
            .address
            .is_none_or(|a| l.address == a || l.address.is_unspecified())
}

/// What was found on one expected port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PortState {
    /// Held by an expected process (or by processes whose names could not be read).
    Listening {
        /// The holders (owner unknown when not visible).
        holders: Vec<Listener>,
    },
    /// Held by a process that is not one of the expected ones.
    Conflict {
        /// The unexpected holders.
        intruders: Vec<Listener>,
    },
    /// Nothing listens there.
    Free,
}

fn holder_text(l: &Listener, lang: Lang) -> String {
    if l.owners.is_empty() {
        return tr!(
            lang,
            "an unknown process on {}",
            "un processus inconnu sur {}",
            l.address
        );
    }
    let who = l
        .owners
        .iter()
        .map(|o| format!("{} (pid {})", o.name, o.pid))
        .collect::<Vec<_>>()
        .join(", ");
    tr!(lang, "{who} on {}", "{who} sur {}", l.address)
}

/// A listener held by processes none of which is expected (a socket passed from a daemon to
/// its children is fine when the daemon is expected).
fn intrudes(l: &Listener, want: &ExpectedPort) -> bool {
    !l.owners.is_empty() && !l.owners.iter().any(|o| want.processes.contains(&o.name))
}

fn where_text(p: &ExpectedPort) -> String {
    match p.address {
        Some(a) => format!("{a}:{} ({})", p.port, p.name),
        None => format!("{} ({})", p.port, p.name),
    }
}

/// Judges the listeners against the expected ports: a port held by a process that is not one
/// of its expected ones is a conflict (critical, Démarrage P1); an expected port that nothing
/// listens on is reported (warning). Owners that could not be seen are said, not judged.
#[must_use]
#[allow(clippy::cast_precision_loss)]
pub fn evaluate_ports(expected: &[ExpectedPort], found: &Listeners, lang: Lang) -> Outcome {
    let mut states = Vec::new();
    let (mut conflicts, mut free, mut fine, mut unseen) =
        (Vec::new(), Vec::new(), Vec::new(), 0usize);
    for want in expected {
        let holders: Vec<Listener> = found
            .listeners
            .iter()
            .filter(|l| serves(l, want))
            .cloned()
            .collect();
        let intruders: Vec<Listener> = holders
            .iter()
            .filter(|l| intrudes(l, want))
            .cloned()
            .collect();
        unseen += holders.iter().filter(|l| l.owners.is_empty()).count();
        let state = if !intruders.is_empty() {
            let who = intruders
                .iter()
                .map(|l| holder_text(l, lang))
                .collect::<Vec<_>>()
                .join(", ");
            conflicts.push(tr!(
                lang,
                "port {} held by {who}, expected {}",
                "port {} occupé par {who}, attendu {}",
                where_text(want),
                want.processes.join("/")
            ));
            PortState::Conflict { intruders }
        } else if holders.is_empty() {
            free.push(where_text(want));
            PortState::Free
        } else {
            let mut names: Vec<String> = holders
                .iter()
                .flat_map(|l| l.owners.iter().map(|o| o.name.clone()))
                .filter(|n| want.processes.contains(n))
                .collect();
            names.sort();
            names.dedup();
            fine.push(if names.is_empty() {
                want.port.to_string()
            } else {
                format!("{} {}", want.port, names.join("/"))
            });
            PortState::Listening { holders }
        };
        states.push(serde_json::json!({ "name": want.name, "port": want.port, "address": want.address, "expected": want.processes, "found": state }));
    }
    let details = serde_json::json!({ "ports": states, "unreadable_processes": found.unreadable_processes, "listeners": found.listeners });
    let mut parts = conflicts.clone();
    if !free.is_empty() {
        parts.push(tr!(
            lang,
            "nothing listens on {}",
            "rien n'écoute sur {}",
            free.join(", ")
        ));
    }
    let status = if !conflicts.is_empty() {
        Status::Critical
    } else if !free.is_empty() {
        Status::Warning
    } else {
        Status::Ok
    };
    let mut summary = if status == Status::Ok {
        tr!(
            lang,
            "{} expected listener(s) in place: {}",
            "{} écoute(s) attendue(s) en place : {}",
            fine.len(),
            fine.join(", ")
        )
    } else {
        parts.join("; ")
    };
    if unseen > 0 {
        summary.push_str(&tr!(
            lang,
            " ({unseen} listener(s) of unknown owner: {} process(es) unreadable, run as root to see them)",
            " ({unseen} écoute(s) de propriétaire inconnu : {} processus illisible(s), lancer en root pour les voir)",
            found.unreadable_processes
        ));
    }
    let mut o = Outcome::new(status, summary)
        .details(details)
        .metric(
            Metric::new("port_conflicts", conflicts.len() as f64, "")
                .thresholds(1.0, 1.0)
                .range(0.0, expected.len() as f64),
        )
        .metric(Metric {
            warn: Some(1.0),
            ..Metric::new("ports_free", free.len() as f64, "").range(0.0, expected.len() as f64)
        });
    if status == Status::Critical {
        // The exact process to look at, then the guide's steps.
        for l in found
            .listeners
            .iter()
            .filter(|l| expected.iter().any(|w| serves(l, w) && intrudes(l, w)))
        {
            if let Some(owner) = l.owners.first() {
                o.remediation.push(Remedy {
                    text: tr!(
                        lang,
                        "Look at {} (pid {}), which holds port {}",
                        "Examiner {} (pid {}), qui occupe le port {}",
                        owner.name,
                        owner.pid,
                        l.port
                    ),
                    command: Some(format!("ps -o pid,user,lstart,args -p {}", owner.pid)),
                    guide: "Démarrage P1".into(),
                    destructive: false,
                });
            }
        }
        o = o.remedies(PORTS_STEPS, lang);
    } else if status == Status::Warning {
        o = o.remedies(FREE_STEPS, lang);
    }
    o
}

pub(super) async fn run(ctx: Arc<Ctx>) -> Outcome {
    let lang = ctx.lang();
    let found = ctx
        .step_named(
            "read /proc",
            tokio::task::spawn_blocking(|| listeners(Path::new("/proc"))),
        )
        .await;
    match found {
        Ok(Ok(Ok(l))) => evaluate_ports(&ctx.config.system.ports, &l, lang),
        Ok(Ok(Err(e))) => Outcome::unknown(tr!(
            lang,
            "cannot read the TCP listeners: {e}",
            "impossible de lire les écoutes TCP : {e}"
        )),
        Ok(Err(e)) => Outcome::unknown(e.to_string()),
        Err(t) => ctx.timed_out(&tr!(lang, "reading /proc", "lecture de /proc"), t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0019 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1111 1 0000000000000000 100 0 0 10 0
   1: 00000000:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2222 1 0000000000000000 100 0 0 10 0
   2: 0100007F:0019 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 3333 1 0000000000000000 100 0 0 10 0
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5555 1 0000000000000000 100 0 0 10 0
";

    fn parsed() -> Vec<Listener> {
        let mut out = Vec::new();
        parse_tcp_table(TCP.as_bytes(), &mut out).expect("parses");
        parse_tcp_table(TCP6.as_bytes(), &mut out).expect("parses");
        out
    }

    #[test]
    fn kernel_tables_parse_listeners_only() {
        let l = parsed();
        assert_eq!(l.len(), 4, "{l:?}");
        assert_eq!(
            (l[0].address, l[0].port, l[0].inode),
            ("127.0.0.1".parse().expect("ip"), 25, 1111)
        );
        assert_eq!(
            (l[1].address, l[1].port),
            ("0.0.0.0".parse().expect("ip"), 3000)
        );
        assert_eq!((l[2].address, l[2].port), ("::".parse().expect("ip"), 443));
        assert_eq!(
            (l[3].address, l[3].port),
            ("127.0.0.1".parse().expect("ip"), 80)
        );
    }

    #[test]
    fn garbage_and_endless_lines_are_skipped() {
        let mut junk = vec![b'x'; 100_000];
        junk.extend_from_slice(b"\nnot a table\n\xff\xfe\n");
        junk.extend_from_slice(TCP.lines().nth(1).expect("line").as_bytes());
        let mut out = Vec::new();
        parse_tcp_table(junk.as_slice(), &mut out).expect("reads");
        assert_eq!(out.len(), 1);
    }

    fn want(port: u16, procs: &[&str]) -> ExpectedPort {
        ExpectedPort {
            name: "svc".into(),
            port,
            address: None,
            processes: procs.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn a_master_among_more_workers_than_the_cap_is_an_owner() {
        let proc = tempfile::tempdir().expect("tempdir");
        for pid in 1..=(3 * MAX_OWNERS as u32) {
            let dir = proc.path().join(pid.to_string());
            std::fs::create_dir_all(dir.join("fd")).expect("fd folder");
            std::os::unix::fs::symlink("socket:[4242]", dir.join("fd/3")).expect("socket link");
            std::fs::write(dir.join("comm"), if pid == 40 { "master\n" } else { "smtpd\n" }).expect("comm");
        }
        let (owners, _) = socket_owners(proc.path(), &HashSet::from([4242]));
        let holders = &owners[&4242];
        assert!(holders.iter().any(|o| o.name == "master"), "{holders:?}");
        assert!(holders.len() <= MAX_OWNERS + 1, "{holders:?}");
    }

    #[test]
    fn conflicts_free_ports_and_unknown_owners() {
        let mut l = parsed();
        l[0].owners = vec![
            Owner {
                pid: 10,
                name: "master".into(),
            },
            Owner {
                pid: 11,
                name: "smtpd".into(),
            },
        ];
        l[1].owners = vec![Owner {
            pid: 42,
            name: "python3".into(),
        }];
        let found = Listeners {
            listeners: l,
            unreadable_processes: 3,
        };
        let ok = evaluate_ports(&[want(25, &["master"])], &found, Lang::En);
        assert_eq!(ok.status, Status::Ok, "{}", ok.summary);
        let conflict = evaluate_ports(
            &[want(25, &["master"]), want(3000, &["node"])],
            &found,
            Lang::En,
        );
        assert_eq!(conflict.status, Status::Critical);
        assert!(
            conflict.summary.contains("python3 (pid 42)"),
            "{}",
            conflict.summary
        );
        assert!(conflict
            .remediation
            .iter()
            .any(|r| r.command.as_deref() == Some("ps -o pid,user,lstart,args -p 42")));
        let free = evaluate_ports(&[want(5432, &["postgres"])], &found, Lang::Fr);
        assert_eq!(free.status, Status::Warning);
        assert!(free.summary.contains("5432"), "{}", free.summary);
        // 443 and 80 have no visible owner: listening, said, not judged.
        let unseen = evaluate_ports(&[want(443, &["traefik"])], &found, Lang::En);
        assert_eq!(unseen.status, Status::Ok);
        assert!(
            unseen.summary.contains("unknown owner"),
            "{}",
            unseen.summary
        );
    }

    #[test]
    fn an_expected_address_ignores_other_addresses_but_not_the_wildcard() {
        let found = Listeners {
            listeners: parsed(),
            unreadable_processes: 0,
        };
        let mut w = want(25, &["master"]);
        w.address = Some("127.0.77.1".parse().expect("ip"));
        assert_eq!(
            evaluate_ports(&[w], &found, Lang::En).status,
            Status::Warning
        );
        let mut w = want(3000, &["node"]);
        w.address = Some("127.0.77.1".parse().expect("ip"));
        assert!(matches!(
            evaluate_ports(&[w], &found, Lang::En).status,
            Status::Ok
        ));
    }
}
