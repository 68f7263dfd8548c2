package state

// Syscalls are the system calls the engine needs to see to keep processes, file descriptors
// and users right (Falco's libsinsp state set, by event name): a live source captures them
// whatever its rules match.
var Syscalls = []string{
	"clone", "clone3", "fork", "vfork", "execve", "execveat", "procexit",
	"open", "openat", "openat2", "creat", "close", "socket", "connect", "accept", "accept4",
	"bind", "dup", "dup2", "dup3", "fcntl", "pipe", "pipe2", "chdir", "fchdir", "memfd_create",
	"setuid", "setgid", "setresuid", "setresgid", "setreuid", "setregid", "capset",
	"setsid", "setpgid", "chroot",
}
