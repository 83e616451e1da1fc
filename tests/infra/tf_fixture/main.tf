# A cloud-shaped module that needs no provider download: only terraform's built-in
# terraform_data resource. Its outputs look like what the DIGIT infra-as-code gives
# later tasks: volume IDs per stateful service and a database host (and password).

variable "environment" {
  type = string
}

variable "zookeeper_volumes" {
  type    = number
  default = 3
}

variable "kafka_volumes" {
  type    = number
  default = 3
}

variable "es_data_volumes" {
  type    = number
  default = 2
}

variable "es_master_volumes" {
  type    = number
  default = 3
}

variable "db_password" {
  type      = string
  sensitive = true
}

# A file the last resource waits for while it is being created, so a test can act in the middle
# of an apply (read progress, kill terraform); "" does not wait. Provisioners run only on create,
# so changing this never changes the plan.
variable "gate" {
  type    = string
  default = ""
}

locals {
  # EBS-like IDs derived from service and index, so they are the same if a volume is created
  # again: tests tell a kept resource from a re-created one by terraform's own id (a new UUID
  # on every create).
  prefix = "${var.environment}-volume"
}

resource "terraform_data" "volume_zk" {
  count = var.zookeeper_volumes
  input = "vol-0${substr(sha1("${local.prefix}-zookeeper-${count.index}"), 0, 16)}"
}

resource "terraform_data" "volume_kafka" {
  count = var.kafka_volumes
  input = "vol-0${substr(sha1("${local.prefix}-kafka-${count.index}"), 0, 16)}"
}

resource "terraform_data" "volume_es_data" {
  count = var.es_data_volumes
  input = "vol-0${substr(sha1("${local.prefix}-es-data-${count.index}"), 0, 16)}"
}

resource "terraform_data" "volume_es_master" {
  count = var.es_master_volumes
  input = "vol-0${substr(sha1("${local.prefix}-es-master-${count.index}"), 0, 16)}"
}

resource "terraform_data" "db" {
  input = "${var.environment}-db.postgres.example.internal"
}

# Created last. Its provisioner writes "<terraform pid> <own pid>" to GATE.started, then waits
# (at most 60 s) for GATE to exist.
resource "terraform_data" "gate" {
  depends_on = [terraform_data.volume_zk, terraform_data.volume_kafka, terraform_data.volume_es_data,
  terraform_data.volume_es_master, terraform_data.db]

  provisioner "local-exec" {
    command     = <<-SH
      [ -z "$GATE" ] && exit 0
      echo "$PPID $$" > "$GATE.started.tmp" && mv "$GATE.started.tmp" "$GATE.started"
      i=0
      while [ ! -e "$GATE" ]; do i=$((i+1)); [ "$i" -gt 1200 ] && exit 1; sleep 0.05; done
    SH
    environment = { GATE = var.gate }
  }
}

output "volume_ids" {
  value = {
    zookeeper   = terraform_data.volume_zk[*].output
    kafka       = terraform_data.volume_kafka[*].output
    "es-data"   = terraform_data.volume_es_data[*].output
    "es-master" = terraform_data.volume_es_master[*].output
  }
}

output "db_host" {
  value = terraform_data.db.output
}

output "db_password" {
  value     = var.db_password
  sensitive = true
}
