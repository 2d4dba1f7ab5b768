/*
 * fsops: small file-system operations the shell cannot express, for the
 * integration tests.
 *
 *   fsops excl PATH          open(O_CREAT|O_EXCL|O_WRONLY); exit 1 with
 *                            strerror on stderr if it fails
 *   fsops mkfiles DIR N      creates DIR/f0000000 .. DIR/f<N-1> (empty,
 *                            O_CREAT|O_EXCL) as fast as possible
 *   fsops fsync PATH         open O_RDWR, fsync, close
 *   fsops fdatasync PATH     open O_RDWR, fdatasync, close
 *   fsops unlinked PATH      open PATH O_RDWR, unlink it, write "after-unlink"
 *                            at offset 0 through the fd, read it back, fstat
 *                            (st_nlink must be 0); exit 0 if all of it works
 *
 * Every failure prints "fsops: <what>: <strerror>" and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int die(const char *what, const char *path)
{
	int e = errno;
	fprintf(stderr, "fsops: %s %s: %s\n", what, path, strerror(e));
	return 1;
}

static int do_mkfiles(const char *dir, long n)
{
	char path[4096];
	long i;

	for (i = 0; i < n; i++) {
		int fd;
		snprintf(path, sizeof(path), "%s/f%07ld", dir, i);
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0)
			return die("create", path);
		if (close(fd) != 0)
			return die("close", path);
	}
	return 0;
}

static int do_sync(const char *path, int data_only)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return die("open", path);
	if ((data_only ? fdatasync(fd) : fsync(fd)) != 0) {
		die(data_only ? "fdatasync" : "fsync", path);
		close(fd);
		return 1;
	}
	if (close(fd) != 0)
		return die("close", path);
	return 0;
}

static int do_unlinked(const char *path)
{
	static const char msg[] = "after-unlink";
	char buf[sizeof(msg)];
	struct stat st;
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return die("open", path);
	if (unlink(path) != 0)
		return die("unlink", path);
	if (pwrite(fd, msg, sizeof(msg) - 1, 0) != (ssize_t)sizeof(msg) - 1)
		return die("pwrite on unlinked", path);
	memset(buf, 0, sizeof(buf));
	if (pread(fd, buf, sizeof(msg) - 1, 0) != (ssize_t)sizeof(msg) - 1)
		return die("pread on unlinked", path);
	if (memcmp(buf, msg, sizeof(msg) - 1) != 0) {
		fprintf(stderr, "fsops: unlinked %s: read back '%s', wrote '%s'\n", path, buf, msg);
		return 1;
	}
	if (fstat(fd, &st) != 0)
		return die("fstat on unlinked", path);
	if (st.st_nlink != 0) {
		fprintf(stderr, "fsops: unlinked %s: st_nlink %lu, expected 0\n", path,
			(unsigned long)st.st_nlink);
		return 1;
	}
	if (close(fd) != 0)
		return die("close", path);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "excl") == 0) {
		int fd = open(argv[2], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0)
			return die("open O_EXCL", argv[2]);
		return close(fd) == 0 ? 0 : die("close", argv[2]);
	}
	if (argc == 4 && strcmp(argv[1], "mkfiles") == 0)
		return do_mkfiles(argv[2], strtol(argv[3], NULL, 10));
	if (argc == 3 && strcmp(argv[1], "fsync") == 0)
		return do_sync(argv[2], 0);
	if (argc == 3 && strcmp(argv[1], "fdatasync") == 0)
		return do_sync(argv[2], 1);
	if (argc == 3 && strcmp(argv[1], "unlinked") == 0)
		return do_unlinked(argv[2]);
	fprintf(stderr, "usage: fsops excl|fsync|fdatasync|unlinked PATH | mkfiles DIR N\n");
	return 2;
}
