"""HTTP clients: the device plane's client half (resolve override, truststore-only TLS, signed
replies verified) and the small synchronous client of a process's lab plane for the command lines."""
