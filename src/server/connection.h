// ConnectionProbe: tells whether the client of a request in progress has gone away, so that its
// generation is cancelled at the next step instead of running to the end. cpp-httplib 0.11 does
// not hand a handler its socket, so the probe finds it by the connection's addresses and peeks
// at it: a closed peer reads as end-of-file (or an error) without consuming request bytes.
#pragma once

#include <string>

namespace retort {

class ConnectionProbe {
public:
    // local/remote: the connection's addresses as httplib reports them (Request::local_addr ...).
    ConnectionProbe(const std::string& local_addr, int local_port, const std::string& remote_addr, int remote_port);
    // True once the peer closed or reset the connection. False when the socket was not found.
    bool closed() const;
    bool found() const { return fd_ >= 0; }

private:
    int fd_ = -1;
};

}  // namespace retort
