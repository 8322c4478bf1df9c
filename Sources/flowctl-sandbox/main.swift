print("flowctl-sandbox")
