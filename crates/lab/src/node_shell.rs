//! What read-only commands print on a simulated node: `top -bn1`, `df -h`,
//! `free -m`, `uptime`, rendered from the node's state in the formats procps
//! and coreutils use, so parsers written for real nodes work unchanged.

use crate::units::Bytes;

/// A node's state as the commands see it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    /// Host name.
    pub name: String,
    /// Seconds since boot.
    pub uptime_secs: u64,
    /// Wall-clock time of day, `HH:MM:SS`.
    pub clock: String,
    /// CPU cores.
    pub cores: f64,
    /// CPU in use, cores.
    pub cpu_used: f64,
    /// Share of CPU time stolen by contention, 0..1.
    pub steal: f64,
    /// Memory size.
    pub memory: Bytes,
    /// Memory in use.
    pub memory_used: Bytes,
    /// Root filesystem size.
    pub disk: Bytes,
    /// Root filesystem in use.
    pub disk_used: Bytes,
    /// Processes, heaviest first: (pid, user, command, cpu cores, resident bytes).
    pub processes: Vec<(u32, String, String, f64, Bytes)>,
}

/// The commands a node answers, and the only ones.
pub const COMMANDS: &[&str] = &["top -bn1", "df -h", "free -m", "uptime"];

/// Runs `command` (one of [`COMMANDS`]) on the node; `None` for anything else.
pub fn run(node: &NodeView, command: &str) -> Option<String> {
    let normalized: Vec<&str> = command.split_whitespace().collect();
    match normalized.join(" ").as_str() {
        "top -bn1" | "top -b -n1" | "top -b -n 1" => Some(top(node)),
        "df -h" => Some(df(node)),
        "free -m" => Some(free(node)),
        "uptime" => Some(format!("{}\n", uptime_line(node))),
        _ => None,
    }
}

fn load(node: &NodeView) -> f64 {
    // Runnable threads: the CPU asked for, which contention can push past the cores.
    node.cpu_used / (1.0 - node.steal).max(0.05)
}

fn uptime_line(node: &NodeView) -> String {
    let days = node.uptime_secs / 86_400;
    let hours = (node.uptime_secs % 86_400) / 3600;
    let mins = (node.uptime_secs % 3600) / 60;
    let l = load(node);
    format!(
        " {} up {days} days, {hours:2}:{mins:02},  0 users,  load average: {:.2}, {:.2}, {:.2}",
        node.clock,
        l,
        l * 0.95,
        l * 0.9
    )
}

fn top(node: &NodeView) -> String {
    let mib = |b: Bytes| b.f() / 1048576.0;
    let us = (100.0 * node.cpu_used / node.cores).min(100.0 - 100.0 * node.steal);
    let st = 100.0 * node.steal;
    let id = (100.0 - us - st).max(0.0);
    let mut out = format!(
        "top - {}\nTasks: {:3} total,   {} running, {:3} sleeping,   0 stopped,   0 zombie\n\
         %Cpu(s): {us:4.1} us,  0.8 sy,  0.0 ni, {id:4.1} id,  0.1 wa,  0.0 hi,  0.1 si, {st:4.1} st\n\
         MiB Mem : {:8.1} total, {:8.1} free, {:8.1} used, {:8.1} buff/cache\n\
         MiB Swap:      0.0 total,      0.0 free,      0.0 used. {:8.1} avail Mem\n\n\
         \x20   PID USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND\n",
        uptime_line(node).trim_start(),
        node.processes.len() + 120,
        node.processes.iter().filter(|p| p.3 > 0.05).count().max(1),
        120,
        mib(node.memory),
        (mib(node.memory) - mib(node.memory_used) * 1.1).max(0.0),
        mib(node.memory_used),
        mib(node.memory_used) * 0.1,
        (mib(node.memory) - mib(node.memory_used)).max(0.0),
    );
    for (pid, user, cmd, cpu, res) in &node.processes {
        let kib = res.0 / 1024;
        out.push_str(&format!(
            "{pid:7} {user:<8}  20   0 {:7} {:6} {:6} {} {:5.1} {:5.1} {:>9} {cmd}\n",
            kib * 2,
            kib,
            kib / 20,
            if *cpu > 0.05 { 'R' } else { 'S' },
            100.0 * cpu,
            100.0 * res.f() / node.memory.f().max(1.0),
            cpu_time(*cpu, node.uptime_secs),
        ));
    }
    out
}

fn cpu_time(cores: f64, uptime: u64) -> String {
    let secs = cores * uptime as f64 * 0.5;
    let mins = (secs / 60.0) as u64;
    format!("{}:{:05.2}", mins, secs - mins as f64 * 60.0)
}

/// `df -h` sizes: one decimal below 10, none above, as coreutils prints.
fn human(b: Bytes) -> String {
    let units = ["", "K", "M", "G", "T"];
    let mut v = b.f();
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{}", b.0)
    } else if v < 10.0 {
        format!("{:.1}{}", (v * 10.0).ceil() / 10.0, units[i])
    } else {
        format!("{}{}", v.ceil() as u64, units[i])
    }
}

fn df(node: &NodeView) -> String {
    let avail = Bytes(node.disk.0.saturating_sub(node.disk_used.0));
    let pct = (100.0 * node.disk_used.f() / node.disk.f().max(1.0)).ceil() as u64;
    let run = Bytes(node.memory.0 / 10);
    format!(
        "Filesystem      Size  Used Avail Use% Mounted on\n\
         /dev/root       {:>4}  {:>4}  {:>4} {:>3}% /\n\
         tmpfs           {:>4}     0  {:>4}   0% /dev/shm\n\
         tmpfs           {:>4}  2.1M  {:>4}   1% /run\n",
        human(node.disk),
        human(node.disk_used),
        human(avail),
        pct,
        human(Bytes(node.memory.0 / 2)),
        human(Bytes(node.memory.0 / 2)),
        human(run),
        human(run),
    )
}

fn free(node: &NodeView) -> String {
    let mib = |b: u64| b / 1048576;
    let total = mib(node.memory.0);
    let used = mib(node.memory_used.0);
    let cache = used / 10;
    let free = total.saturating_sub(used + cache);
    format!(
        "               total        used        free      shared  buff/cache   available\n\
         Mem:    {total:>12} {used:>11} {free:>11} {:>11} {cache:>11} {:>11}\n\
         Swap:             0           0           0\n",
        12,
        total.saturating_sub(used),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> NodeView {
        NodeView {
            name: "node-c".into(),
            uptime_secs: 3 * 86_400 + 4 * 3600 + 5 * 60,
            clock: "08:30:00".into(),
            cores: 8.0,
            cpu_used: 2.0,
            steal: 0.0,
            memory: Bytes(32 << 30),
            memory_used: Bytes(8 << 30),
            disk: Bytes(50 << 30),
            disk_used: Bytes(46 << 30),
            processes: vec![(4211, "root".into(), "reindex".into(), 1.5, Bytes(1 << 30))],
        }
    }

    #[test]
    fn df_shows_the_full_disk() {
        let out = run(&node(), "df -h").unwrap();
        let root = out.lines().find(|l| l.ends_with(" /")).unwrap();
        let cols: Vec<&str> = root.split_whitespace().collect();
        assert_eq!(cols, ["/dev/root", "50G", "46G", "4.0G", "92%", "/"]);
    }

    #[test]
    fn free_and_uptime_and_top() {
        let n = node();
        let free = run(&n, "free -m").unwrap();
        let mem: Vec<&str> = free.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(&mem[..3], ["Mem:", "32768", "8192"]);
        let up = run(&n, "uptime").unwrap();
        assert!(up.contains("up 3 days,  4:05"), "{up}");
        assert!(up.contains("load average: 2.00"), "{up}");
        let top = run(&n, "top  -bn1").unwrap();
        assert!(top.starts_with("top - 08:30:00 up 3 days"), "{top}");
        assert!(top.contains("%Cpu(s): 25.0 us"), "{top}");
        assert!(top.lines().last().unwrap().ends_with(" reindex"));
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(run(&node(), "rm -rf /"), None);
        assert_eq!(run(&node(), "df -h; reboot"), None);
    }
}
