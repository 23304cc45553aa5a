print("s3-sidecar")
