"""Host facts compared with a plan and across hosts: the lines preflight shows an operator. The
facts themselves are read from real hosts in test_ssh.py; here they are varied to reach each check."""

from __future__ import annotations

from dataclasses import replace

from digit_tui.infra.hostfacts import HostFacts, Interface, Requirements, check_fleet, check_host, gib, parse_facts

GiB = 2**30


def facts(**kw: object) -> HostFacts:
    base = HostFacts(hostname="worker-1", os_id="ubuntu", os_version="22.04", os_name="Ubuntu 22.04.4 LTS",
                     kernel="5.15.0", cpus=8, memory_bytes=int(15.6 * GiB), swap_on=False, swap_bytes=0,
                     disk_free={"/": 80 * GiB, "/var": 80 * GiB},
                     interfaces=(Interface("ens3", "52:54:00:aa:bb:01"),), product_uuid="uuid-1",
                     clock_offset=0.0, clock_uncertainty=0.01, ports_in_use=(), ports_checked=(6443,))
    return replace(base, **kw)  # type: ignore[arg-type]


def test_plan_shortfalls_read_as_sentences() -> None:
    small = facts(cpus=2, memory_bytes=int(7.8 * GiB), disk_free={"/": 80 * GiB, "/var": 12 * GiB},
                  swap_on=True, swap_bytes=2 * GiB, ports_in_use=(6443, 10250))
    need = Requirements(cpus=4, memory_bytes=16 * GiB, disk_free={"/var": 50 * GiB, "/data": GiB},
                        free_ports=(6443, 10250, 10259), swap_off=True, os={"ubuntu": ("20.04", "22.04")})
    assert [f.message for f in check_host("worker-3", small, need)] == [
        "worker-3 has 2 CPUs, the plan needs 4",
        "worker-3 has 8 GiB of memory, the plan needs 16 GiB",
        "worker-3 has 12 GiB free on /var, the plan needs 50 GiB",
        "worker-3: free space on /data unknown (no such path?)",
        "worker-3: ports 6443, 10250 already in use",
        "worker-3 has swap on (2 GiB); the kubelet needs it off",
    ]


def test_a_vm_given_what_the_plan_asks_passes_despite_kernel_reserved_memory() -> None:
    # a 16 GiB VM reports MemTotal of about 15.6 GiB
    assert check_host("worker-1", facts(), Requirements(cpus=8, memory_bytes=16 * GiB)) == []
    assert [f.check for f in check_host("worker-1", facts(memory_bytes=14 * GiB),
                                        Requirements(memory_bytes=16 * GiB))] == ["memory"]


def test_unsupported_os() -> None:
    need = Requirements(os={"ubuntu": ("22.04",), "debian": ()})
    assert check_host("m1", facts(os_id="debian", os_version="11"), need) == []
    msgs = [f.message for f in check_host("m1", facts(os_id="centos", os_version="7", os_name="CentOS 7"), need)]
    assert msgs == ["m1 runs CentOS 7, supported: ubuntu 22.04, debian"]


def test_gib() -> None:
    assert (gib(16 * GiB), gib(int(15.6 * GiB)), gib(int(1.5 * GiB)), gib(0)) == ("16 GiB", "16 GiB", "1.5 GiB",
                                                                                  "0 GiB")


def test_fleet_duplicates_and_clock_skew() -> None:
    hosts = {
        "master-1": facts(hostname="node"),
        "worker-1": facts(hostname="NODE", product_uuid="uuid-2",
                          interfaces=(Interface("ens3", "52:54:00:aa:bb:01"), Interface("ens4", "52:54:00:aa:bb:02"))),
        "worker-2": facts(hostname="worker-2", product_uuid="uuid-1",
                          interfaces=(Interface("ens3", "52:54:00:aa:bb:03"),), clock_offset=12.3),
    }
    found = {(f.check, f.message) for f in check_fleet(hosts)}
    assert found == {
        ("hostname", "hostname 'node' is used by master-1, worker-1: every node needs its own"),
        ("mac", "MAC address 52:54:00:aa:bb:01 is on master-1, worker-1: every node needs its own"),
        ("product_uuid", "product_uuid uuid-1 is the same on master-1, worker-2 (cloned VMs?): every node needs "
                         "its own"),
        ("clock", "clocks differ by 12.3 s: worker-2 is ahead of master-1; keep them within 2 s (NTP / chrony)"),
    }


def test_clock_skew_within_the_round_trip_is_not_reported() -> None:
    # 3 s apart as measured, but each reading is only known to within 1 s: no more than 1 s is sure
    hosts = {"a": facts(hostname="a", clock_offset=0.0, clock_uncertainty=1.0, product_uuid=None, interfaces=()),
             "b": facts(hostname="b", clock_offset=3.0, clock_uncertainty=1.0, product_uuid=None, interfaces=())}
    assert check_fleet(hosts, max_clock_skew=2.0) == []


def test_parse_leaves_out_container_interfaces_and_reads_listeners() -> None:
    m = "@@dt-facts:"
    text = "\n".join([
        f"{m}clock", "1700000000.5", f"{m}hostname", "w1", f"{m}cpus", "4",
        f"{m}meminfo", "MemTotal:       16303412 kB", "SwapTotal:       2097148 kB",
        f"{m}swaps", "Filename Type Size Used Priority", "/swap.img file 2097148 0 -2",
        f"{m}df", "/ /dev/vda1 102687672 20000000 77428440 21% /", "/var /dev/vdb1 1000 10 990 1% /var",
        f"{m}net", "lo 00:00:00:00:00:00", "ens3 52:54:00:AA:BB:01", "cali1234 ee:ee:ee:ee:ee:ee",
        "vxlan.calico 66:11:22:33:44:55", "docker0 02:42:11:22:33:44",
        f"{m}uuid", f"{m}tcp",
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
        "   0: 00000000:192B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1",
        "   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 2 1",
        f"{m}end"])
    f = parse_facts(text, ports=(6443, 8080, 22), sent=1700000000.0, received=1700000000.2)
    assert f.interfaces == (Interface("ens3", "52:54:00:aa:bb:01"),)
    assert f.ports_in_use == (6443,)              # 8080 is an established connection, not a listener
    assert f.swap_on and f.swap_bytes == 2097148 * 1024
    assert f.disk_free == {"/": 77428440 * 1024, "/var": 990 * 1024}
    assert f.product_uuid is None and f.cpus == 4 and f.memory_bytes == 16303412 * 1024
    assert abs(f.clock_offset - 0.4) < 1e-6 and abs(f.clock_uncertainty - 0.1) < 1e-6
