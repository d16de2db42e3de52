print("rnnkit")
