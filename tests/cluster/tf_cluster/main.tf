# A stand-in for a cloud cluster module (AKS, EKS, GKE) that needs no provider download: the
# "cluster" is the kubeconfig text the test passes in, held by terraform's built-in
# terraform_data resource, and output the way azurerm's kube_config_raw is: sensitive text.

variable "kubeconfig" {
  type      = string
  sensitive = true
}

variable "cluster_name" {
  type    = string
  default = "tf-test"
}

resource "terraform_data" "cluster" {
  input = var.kubeconfig
}

output "kubeconfig" {
  value     = terraform_data.cluster.output
  sensitive = true
}

output "cluster_name" {
  value = var.cluster_name
}
