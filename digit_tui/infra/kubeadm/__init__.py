"""A Kubernetes cluster on plain VMs with kubeadm, over SSH (no DIGIT here).

    facts     what a host looks like to kubeadm, read in one round trip
    packages  where kubeadm, kubelet and kubectl come from (the repository or a mirror)
    prepare   what a host still needs, decided from its facts, as shell actions
    configs   kubeadm's init and join configurations; join credentials; scrubbing secrets
    cluster   commands on the first control plane: tokens, certificates, CNI, admin.conf

Long commands run as detached steps (``digit_tui.infra.hoststeps``) under a
host lock (``digit_tui.infra.hostlock``), so a dropped connection neither kills
them half way nor lets a rerun start them twice.
"""
