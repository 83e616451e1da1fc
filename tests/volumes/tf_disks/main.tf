# A stand-in for a cloud module that builds the cluster and the backbone's disks, sized by
# digit-tui's plan (the *_volume_count variables): only terraform's built-in terraform_data, no
# provider download. Its outputs are shaped as DIGIT's AWS module names them: <component>_vol_ids
# and availability_zones; the cluster's kubeconfig is the sensitive text the test passes in.

variable "kubeconfig" {
  type      = string
  sensitive = true
}

variable "zookeeper_volume_count" {
  type = number
}

variable "kafka_volume_count" {
  type = number
}

variable "es_data_volume_count" {
  type = number
}

variable "es_master_volume_count" {
  type = number
}

resource "terraform_data" "cluster" {
  input = var.kubeconfig
}

resource "terraform_data" "zookeeper" {
  count = var.zookeeper_volume_count
  input = "zookeeper-${count.index}"
}

resource "terraform_data" "kafka" {
  count = var.kafka_volume_count
  input = "kafka-${count.index}"
}

resource "terraform_data" "es_data" {
  count = var.es_data_volume_count
  input = "es-data-${count.index}"
}

resource "terraform_data" "es_master" {
  count = var.es_master_volume_count
  input = "es-master-${count.index}"
}

output "kubeconfig" {
  value     = terraform_data.cluster.output
  sensitive = true
}

output "availability_zones" {
  value = ["ap-south-1a", "ap-south-1b"]
}

output "zookeeper_vol_ids" {
  value = [for d in terraform_data.zookeeper : "vol-${substr(replace(d.id, "-", ""), 0, 17)}"]
}

output "kafka_vol_ids" {
  value = [for d in terraform_data.kafka : "vol-${substr(replace(d.id, "-", ""), 0, 17)}"]
}

output "es_data_vol_ids" {
  value = [for d in terraform_data.es_data : "vol-${substr(replace(d.id, "-", ""), 0, 17)}"]
}

output "es_master_vol_ids" {
  value = [for d in terraform_data.es_master : "vol-${substr(replace(d.id, "-", ""), 0, 17)}"]
}
