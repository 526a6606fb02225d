/*
 * loop.c - the note "Creating a Loop Device in Linux", in C on libplumb.
 *
 * The note: dd a 50 MiB file, losetup -f, losetup DEV FILE, mkfs -t ext4,
 * mkdir, mount, df -h, umount, losetup -d.  Here: create the file, attach it
 * to the first free device (one race-free call), run the system's
 * mkfs.ext4, mount it on a fresh directory, print df's line, then unmount,
 * detach and remove everything.
 *
 *   loop [FILE]      (default: a file in a new directory under /tmp; root)
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <plumb/loop.h>

extern char **environ;

/* Runs mkfs.ext4 -q DEV and waits; 0 on success. */
static int mkfs_ext4(const char *dev)
{
	char *argv[] = {"mkfs.ext4", "-q", (char *)dev, NULL};
	pid_t pid;
	int st;
	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
		return -1;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		return -1;
	return 0;
}

/* df -h's line for the filesystem mounted on @dir from @dev. */
static void df_line(const char *dev, const char *dir)
{
	struct statvfs s;
	if (statvfs(dir, &s) < 0)
		return;
	double size = (double)s.f_blocks * s.f_frsize, avail = (double)s.f_bavail * s.f_frsize;
	double used = (double)(s.f_blocks - s.f_bfree) * s.f_frsize;
	printf("%-12s %6s %6s %6s %4s %s\n", "Filesystem", "Size", "Used", "Avail", "Use%",
	       "Mounted on");
	printf("%-12s %5.0fM %5.0fK %5.0fM %3.0f%% %s\n", dev, size / (1 << 20), used / 1024,
	       avail / (1 << 20), used + avail > 0 ? 100 * used / (used + avail) : 0, dir);
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/plumb-loop-example-XXXXXX", file[128], mnt[128], dev[32];
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(file, sizeof file, "%s", argc > 1 ? argv[1] : "");
	if (!file[0])
		snprintf(file, sizeof file, "%s/loopfile", dir);
	snprintf(mnt, sizeof mnt, "%s/loopfs", dir);
	int status = 1, fd = open(file, O_RDWR | O_CREAT | O_EXCL, 0644);
	bool attached = false, mounted = false;

	/* dd if=/dev/zero of=FILE bs=1024 count=51200 (sparse here) */
	if (fd < 0 || ftruncate(fd, 50 << 20) < 0) {
		fprintf(stderr, "%s: %s\n", file, strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	close(fd);
	/* losetup -f; losetup DEV FILE (one call, no race between them) */
	if (plumb_loop_attach(file, NULL, dev, sizeof dev) < 0) {
		fprintf(stderr, "attach: %s\n", plumb_loop_errmsg());
		goto out;
	}
	attached = true;
	struct plumb_loop_info info;
	if (plumb_loop_info(dev, &info) == 0) /* losetup DEV */
		printf("%s: [%04u]:%llu (%s)\n", dev, info.back_major << 8 | info.back_minor,
		       (unsigned long long)info.back_ino, info.back_file);
	/* mkfs -t ext4 DEV; mkdir; mount -t ext4 DEV DIR */
	if (mkfs_ext4(dev) < 0) {
		fprintf(stderr, "mkfs.ext4 %s failed\n", dev);
		goto out;
	}
	if (mkdir(mnt, 0755) < 0 || mount(dev, mnt, "ext4", 0, NULL) < 0) {
		fprintf(stderr, "mount %s: %s\n", mnt, strerror(errno));
		goto out;
	}
	mounted = true;
	df_line(dev, mnt); /* df -h DEV */
	status = 0;
out:
	if (mounted && umount(mnt) < 0) /* umount DIR */
		status = 1;
	if (attached && plumb_loop_detach(dev) < 0) /* losetup -d DEV */
		status = 1;
	if (fd >= 0)
		unlink(file);
	rmdir(mnt);
	rmdir(dir);
	if (attached)
		printf("%s detached\n", dev);
	return status;
}
