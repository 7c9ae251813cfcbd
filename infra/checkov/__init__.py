"""Custom checkov policies for what checkov checks only for Terraform (ECS hardening).

Run: checkov --framework cloudformation --skip-download \
       --external-checks-dir infra/checkov -d infra/cloudformation
"""
