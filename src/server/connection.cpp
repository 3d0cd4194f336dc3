#include "server/connection.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace retort {

namespace {

// "ip", port of a socket address (IPv4, IPv6; v4-mapped v6 printed as v6, as httplib does).
bool address_of(const sockaddr_storage& ss, std::string& ip, int& port) {
    char buf[INET6_ADDRSTRLEN] = {0};
    if (ss.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        if (!inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf))) return false;
        port = ntohs(a->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
        if (!inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf))) return false;
        port = ntohs(a->sin6_port);
    } else {
        return false;
    }
    ip = buf;
    return true;
}

bool matches(int fd, const std::string& local_addr, int local_port, const std::string& remote_addr, int remote_port) {
    sockaddr_storage ss{};
    socklen_t len = sizeof(ss);
    std::string ip;
    int port = -1;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 || !address_of(ss, ip, port)) return false;
    if (port != remote_port || ip != remote_addr) return false;
    len = sizeof(ss);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0 || !address_of(ss, ip, port)) return false;
    return port == local_port && (local_addr.empty() || ip == local_addr);
}

}  // namespace

ConnectionProbe::ConnectionProbe(const std::string& local_addr, int local_port, const std::string& remote_addr,
                                 int remote_port) {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return;
    while (dirent* e = readdir(dir)) {
        char* end = nullptr;
        const long fd = std::strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end != '\0' || fd == dirfd(dir)) continue;
        struct stat st {};
        if (fstat((int)fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
        if (matches((int)fd, local_addr, local_port, remote_addr, remote_port)) {
            fd_ = (int)fd;
            break;
        }
    }
    closedir(dir);
}

bool ConnectionProbe::closed() const {
    if (fd_ < 0) return false;
    char c;
    const ssize_t n = recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) return false;  // more request bytes (a pipelined request): still there
    if (n == 0) return true;  // orderly shutdown by the peer
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

}  // namespace retort
