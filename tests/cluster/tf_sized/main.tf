# A stand-in for a cloud cluster module sized by digit-tui's plan: only terraform's built-in
# terraform_data (no provider download). It declares some of the plan's variables (not
# node_memory_gib, which the task must then leave out of the var-file) and echoes them as outputs.

variable "kubeconfig" {
  type      = string
  sensitive = true
}

variable "node_count" {
  type = number
}

variable "node_flavor" {
  type = string
}

variable "node_cpus" {
  type = number
}

variable "kafka_volume_count" {
  type = number
}

variable "kafka_volume_size_gb" {
  type = number
}

resource "terraform_data" "cluster" {
  input = var.kubeconfig
}

# The node pool and the backbone's disks, as a cloud module would create them from the variables.
resource "terraform_data" "node_pool" {
  input = { count = var.node_count, flavor = var.node_flavor, cpus = var.node_cpus }
}

resource "terraform_data" "kafka_disks" {
  input = { count = var.kafka_volume_count, size_gb = var.kafka_volume_size_gb }
}

output "kubeconfig" {
  value     = terraform_data.cluster.output
  sensitive = true
}

output "node_count" {
  value = terraform_data.node_pool.output.count
}

output "node_flavor" {
  value = terraform_data.node_pool.output.flavor
}

output "kafka_volume_size_gb" {
  value = terraform_data.kafka_disks.output.size_gb
}
