"""The sandbox's controllers: the reconcile loops a real kube-controller-manager runs, simulated in-process."""
