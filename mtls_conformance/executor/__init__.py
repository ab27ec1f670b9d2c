"""The executor: the only code that talks to a cluster or runs a tool (kind, kubectl, helm, istioctl, docker).

Everything here is thin and typed; the logic around it (waits, tool resolution, cleanup) takes injectable fakes
(command runner, downloader, clock, Kubernetes API objects) so it is tested offline.
"""
