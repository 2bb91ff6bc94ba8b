//! The peers' private iceoryx2 domain: its configuration and its removal at the end of a run.

use std::io;
use std::path::PathBuf;
use std::sync::OnceLock;

use iceoryx2::node::NodeView;
use iceoryx2::prelude::*;

use super::BoxError;

/// The iceoryx2 configuration used by all peers: the global config with a domain private to
/// this process (own file prefix and root directory, both containing the pid).
///
/// Why private: every iceoryx2 0.10 node creation opens or creates a *persistent* shared memory
/// segment, `/dev/shm/<prefix>node.<version>.global_mgmt` (a machine-wide node counter), that no
/// drop ever removes. It may only be removed when no other process uses the domain, which we can
/// only guarantee for a domain of our own. Likewise, the remains of a killed child can only be
/// removed by force, which is only safe in a domain of our own.
///
/// Must be initialised before the first fork so that parent and children agree on it.
pub(super) fn iox_config() -> &'static Config {
    static CONFIG: OnceLock<Config> = OnceLock::new();
    CONFIG.get_or_init(|| {
        // Its warnings (such as "no config file was loaded") would land in the table.
        set_log_level_from_env_or(LogLevel::Error);
        let pid = std::process::id();
        let mut config = Config::global_config().clone();
        config.global.prefix =
            FileName::new(format!("iox2rc{pid}_").as_bytes()).expect("valid iceoryx2 prefix");
        let root = std::env::temp_dir().join(format!("ringipc-compare-iox2-{pid}/"));
        let root = root.to_str().expect("temp dir is UTF-8");
        config.global.set_root_path(
            &iceoryx2::prelude::Path::new(root.as_bytes()).expect("valid iceoryx2 root path"),
        );
        config
    })
}

/// The private iceoryx2 root directory used by the peers (see [`iox_config`]).
pub fn iceoryx2_root_dir() -> PathBuf {
    PathBuf::from(iox_config().global.root_path().to_string())
}

/// Removes the peers' private iceoryx2 domain: its root directory and every `/dev/shm` entry
/// with its prefix. Call it after the last peer was dropped.
///
/// After graceful runs only iceoryx2's persistent global management segment and the empty
/// root, `nodes` and `services` directories are left. After a child had to be killed, its node,
/// ports and services are left as well, and iceoryx2's own cleanup (`try_cleanup_dead_nodes`,
/// `DeadNodeView`) cannot remove them from this process tree: iceoryx2 caches a per-process
/// "unique process id" in a static once the parent created its first node, forked children
/// inherit it, and a node whose owner id equals one's own counts as alive - so the parent and
/// all later children see a killed child's node as alive forever. Hence the removal by force.
///
/// Refuses (removing nothing) while a node of the domain belongs to a live process, i.e. to
/// this process or to a child that has not been reaped.
pub fn remove_iceoryx2_domain() -> Result<(), BoxError> {
    let config = iox_config();
    let root = iceoryx2_root_dir();
    if root.exists() {
        let own_pid = std::process::id() as libc::pid_t;
        let mut live_owners = Vec::new();
        Node::<ipc::Service>::list(config, |state| {
            let details = match &state {
                NodeState::Alive(view) => view.details(),
                NodeState::Dead(view) => view.details(),
                NodeState::Inaccessible(_) | NodeState::Undefined(_) => &None,
            };
            if let Some(pid) = details.as_ref().map(|d| d.process_id().value())
                && (pid == own_pid || process_exists(pid))
            {
                live_owners.push(pid);
            }
            CallbackProgression::Continue
        })?;
        if !live_owners.is_empty() {
            return Err(format!(
                "iceoryx2 domain still has nodes of live processes {live_owners:?}"
            )
            .into());
        }
        std::fs::remove_dir_all(&root)?;
    }
    let prefix = config.global.prefix.to_string();
    for entry in std::fs::read_dir("/dev/shm")? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            // Unlinking the file is what shm_unlink does on Linux.
            std::fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

fn process_exists(pid: libc::pid_t) -> bool {
    // SAFETY: signal 0 performs only the existence and permission check, nothing is sent.
    let ret = unsafe { libc::kill(pid, 0) };
    ret == 0 || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}
