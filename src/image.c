/*
 * image.c - `plumb image`: a file becomes a mounted filesystem and back.
 *
 * The manual way is dd, losetup -f, losetup DEV FILE, mkfs, mkdir, mount,
 * df, tune2fs -l, umount, losetup -d.  Here `create` makes the file
 * (sparse, or allocated), attaches it, runs the system's mkfs for the
 * chosen type and mounts it when asked; `mount` and `umount` attach+mount
 * and unmount+detach; `info` probes the filesystem with libblkid (and, for
 * the counts, statvfs when it is mounted, else the ext2/3/4, xfs, btrfs or
 * FAT superblock); `list` shows attached images and their mount points.
 *
 * A mount is the device's when /proc/self/mountinfo gives the device's
 * major:minor or names the device as the mount's source: btrfs reports an
 * anonymous device number of its own, so only the source finds its mounts.
 *
 * Every step that succeeds is recorded in a struct undo, and a failure
 * runs it backwards: unmount, detach, remove the file (unless --keep), so
 * a failed command leaves nothing behind.
 */
#include <blkid/blkid.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/major.h>

#include <plumb/loop.h>

#include "cmd.h"

/* What has been done so far, to be undone on failure. */
struct undo {
	const char *file; /* created by us */
	char dev[32];     /* attached by us */
	const char *dir;  /* mounted by us */
	bool keep;
};

static void rollback(struct undo *u)
{
	if (u->dir && umount2(u->dir, 0) < 0)
		warnx_("rollback: cannot unmount %s: %s", u->dir, strerror(errno));
	if (u->dev[0] && plumb_loop_detach_wait(u->dev, 5000) < 0)
		warnx_("rollback: %s", plumb_loop_errmsg());
	if (u->file && !u->keep && unlink(u->file) < 0)
		warnx_("rollback: cannot remove %s: %s", u->file, strerror(errno));
}

/* ---- mounts: /proc/self/mountinfo ---- */

struct mnt {
	unsigned major, minor;
	char dir[4096];
	char fstype[64];
	char source[4096];
};

/* Undoes the octal escapes (\040 for a blank) of a mountinfo field. */
static void unescape(char *s)
{
	char *d = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
			*d++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*d++ = *s;
		}
	}
	*d = 0;
}

/* Calls @fn for every mount; stops when it returns non-zero and returns that. */
static int each_mount(int (*fn)(const struct mnt *m, void *arg), void *arg)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return -errno;
	char *line = NULL;
	size_t cap = 0;
	int r = 0;
	struct mnt *m = malloc(sizeof *m);
	if (!m) {
		fclose(f);
		return -ENOMEM;
	}
	while (r == 0 && getline(&line, &cap, f) > 0) {
		char *sep = strstr(line, " - ");
		if (!sep ||
		    sscanf(line, "%*u %*u %u:%u %*s %4095s", &m->major, &m->minor, m->dir) != 3 ||
		    sscanf(sep + 3, "%63s %4095s", m->fstype, m->source) != 2)
			continue;
		unescape(m->dir);
		unescape(m->source);
		r = fn(m, arg);
	}
	free(m);
	free(line);
	fclose(f);
	return r;
}

struct mounts_of {
	unsigned major, minor;
	char dirs[8][4096];
	int n;
	char fstype[64];
};

/* The device number of @m's source, when that is a block device. */
static bool source_dev(const struct mnt *m, dev_t *rdev)
{
	struct stat st;
	if (strncmp(m->source, "/dev/", 5) || stat(m->source, &st) != 0 || !S_ISBLK(st.st_mode))
		return false;
	*rdev = st.st_rdev;
	return true;
}

/* True if @m's source is the block device @maj:@min. */
static bool source_is(const struct mnt *m, unsigned maj, unsigned min)
{
	dev_t d;
	return source_dev(m, &d) && major(d) == maj && minor(d) == min;
}

static int collect_mount(const struct mnt *m, void *arg)
{
	struct mounts_of *o = arg;
	bool ours =
	        (m->major == o->major && m->minor == o->minor) || source_is(m, o->major, o->minor);
	if (ours && o->n < 8) {
		snprintf(o->dirs[o->n++], sizeof o->dirs[0], "%s", m->dir);
		snprintf(o->fstype, sizeof o->fstype, "%s", m->fstype);
	}
	return 0;
}

/* ---- filesystems: mkfs and probing ---- */

/* Runs mkfs.TYPE on @dev with the label option the tool wants; 0 or -1.
 * @nodiscard keeps mkfs from discarding the device, which on a loop device
 * punches holes in the file that --allocate filled. */
static int run_mkfs(const char *fs, const char *label, const char *dev, bool nodiscard)
{
	char tool[64];
	snprintf(tool, sizeof tool, "mkfs.%s", fs);
	const char *argv[10];
	int n = 0;
	argv[n++] = tool;
	bool vfat = !strcmp(fs, "vfat");
	bool ext = !strncmp(fs, "ext", 3);
	if (!vfat)
		argv[n++] = ext ? "-qF" : "-f";
	if (nodiscard && ext) {
		argv[n++] = "-E";
		argv[n++] = "nodiscard";
	} else if (nodiscard && !vfat) {
		argv[n++] = "-K";
	}
	if (label) {
		argv[n++] = vfat ? "-n" : "-L";
		argv[n++] = label;
	}
	argv[n++] = dev;
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid < 0) {
		warnx_("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 1);
		execvp(tool, (char **)argv);
		fprintf(stderr, "%s: %s: %s (install the package that has it)\n", prog_name, tool,
		        strerror(errno));
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	if (!(WIFEXITED(st) && WEXITSTATUS(st) == 127))
		warnx_("%s %s failed (status %d)", tool, dev, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	return -1;
}

struct probe {
	char type[32], uuid[64], label[64], version[32];
	uint64_t block_size;
	bool found;
};

/* Probes @path (a device or an image file) with libblkid. */
static int probe(const char *path, struct probe *p)
{
	memset(p, 0, sizeof *p);
	blkid_probe pr = blkid_new_probe_from_filename(path);
	if (!pr)
		return -errno ? -errno : -EIO;
	blkid_probe_enable_superblocks(pr, 1);
	blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_LABEL | BLKID_SUBLKS_UUID |
	                                              BLKID_SUBLKS_TYPE | BLKID_SUBLKS_VERSION);
	int r = blkid_do_safeprobe(pr);
	if (r == 0) {
		const char *v;
		p->found = true;
		if (!blkid_probe_lookup_value(pr, "TYPE", &v, NULL))
			snprintf(p->type, sizeof p->type, "%s", v);
		if (!blkid_probe_lookup_value(pr, "UUID", &v, NULL))
			snprintf(p->uuid, sizeof p->uuid, "%s", v);
		if (!blkid_probe_lookup_value(pr, "LABEL", &v, NULL))
			snprintf(p->label, sizeof p->label, "%s", v);
		if (!blkid_probe_lookup_value(pr, "VERSION", &v, NULL))
			snprintf(p->version, sizeof p->version, "%s", v);
		if (!blkid_probe_lookup_value(pr, "BLOCK_SIZE", &v, NULL))
			p->block_size = strtoull(v, NULL, 10);
	}
	blkid_free_probe(pr);
	return r < 0 ? -EIO : 0;
}

/* ---- filesystems' counts: statvfs when mounted, else the superblock ---- */

/* What `info` prints beyond libblkid's fields.  A zero size or block size
 * and false flags mean unknown.  The block size is the unit of allocation: the block of
 * ext2/3/4 and xfs, the sector of btrfs, the cluster of FAT. */
struct fscount {
	uint64_t size, used, free, block_size, inodes, free_inodes;
	bool has_free, has_inodes;
	int state; /* ext2/3/4: 0 not clean, 1 clean, 2 with errors; -1 none */
};

static uint16_t le16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const unsigned char *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

static uint64_t be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static bool read_at(int fd, void *buf, size_t len, uint64_t off)
{
	return pread(fd, buf, len, (off_t)off) == (ssize_t)len;
}

/* ext2/3/4: the superblock, 1024 bytes in. */
static bool ext_count(int fd, struct fscount *c)
{
	unsigned char b[1024];
	if (!read_at(fd, b, sizeof b, 1024) || b[56] != 0x53 || b[57] != 0xEF)
		return false;
	bool is64 = le32(b + 0x64) & 0x80; /* INCOMPAT_64BIT */
	uint64_t blocks = le32(b + 4) | (is64 ? (uint64_t)le32(b + 0x150) << 32 : 0);
	uint64_t free_blocks = le32(b + 12) | (is64 ? (uint64_t)le32(b + 0x158) << 32 : 0);
	c->block_size = 1024ULL << le32(b + 24);
	c->size = blocks * c->block_size;
	c->free = free_blocks * c->block_size;
	c->used = c->free <= c->size ? c->size - c->free : 0;
	c->has_free = true;
	c->inodes = le32(b + 0);
	c->free_inodes = le32(b + 16);
	c->has_inodes = true;
	unsigned state = le16(b + 58);
	c->state = state & 2 ? 2 : state & 1;
	return true;
}

/* btrfs: the primary superblock at 64 KiB.  Its bytes_used counts what
 * data and metadata hold; how much is free depends on the profiles, so
 * only a mounted btrfs (statvfs) says. */
static bool btrfs_count(int fd, struct fscount *c)
{
	unsigned char b[0xa0];
	if (!read_at(fd, b, sizeof b, 0x10000) || memcmp(b + 0x40, "_BHRfS_M", 8))
		return false;
	c->size = le64(b + 0x70);
	c->used = le64(b + 0x78);
	c->block_size = le32(b + 0x90);
	return true;
}

/* xfs: the superblock at 0 (big-endian).  Its free count is exact once the
 * filesystem was cleanly unmounted; mounted, statvfs is asked instead. */
static bool xfs_count(int fd, struct fscount *c)
{
	unsigned char b[0x98];
	if (!read_at(fd, b, sizeof b, 0) || memcmp(b, "XFSB", 4))
		return false;
	c->block_size = be32(b + 4);
	c->size = be64(b + 8) * c->block_size;
	c->free = be64(b + 0x90) * c->block_size;
	c->used = c->free <= c->size ? c->size - c->free : 0;
	c->has_free = true;
	return true;
}

/* Counts the free clusters of a FAT: entries 2 .. @clusters + 1 of the
 * table at byte @at, @bits wide, read a piece at a time; false on a short
 * read. */
static bool fat_free(int fd, uint64_t at, uint64_t clusters, unsigned bits, uint64_t *nfree)
{
	unsigned char b[12288]; /* a multiple of 3 bytes (two FAT12 entries) and of 4 */
	uint64_t n = clusters + 2, i = 0;
	*nfree = 0;
	while (i < n) {
		uint64_t per = sizeof b * 8 / bits, k = n - i < per ? n - i : per;
		size_t len = (size_t)((k * bits + 7) / 8);
		if (!read_at(fd, b, len, at))
			return false;
		at += len;
		for (uint64_t j = 0; j < k; j++, i++) {
			uint32_t v;
			if (bits == 12) {
				const unsigned char *e = b + j * 3 / 2;
				v = j & 1 ? (e[0] >> 4 | e[1] << 4) : (e[0] | (e[1] & 0x0f) << 8);
			} else if (bits == 16) {
				v = le16(b + j * 2);
			} else {
				v = le32(b + j * 4) & 0x0fffffff;
			}
			*nfree += i >= 2 && v == 0;
		}
	}
	return true;
}

/* FAT12/16/32: the boot sector's geometry, and the first table for the
 * free clusters (FAT32's FSInfo hint may be stale or unset). */
static bool fat_count(int fd, struct fscount *c)
{
	unsigned char b[512];
	if (!read_at(fd, b, sizeof b, 0) || b[510] != 0x55 || b[511] != 0xaa)
		return false;
	unsigned bps = le16(b + 11), spc = b[13], reserved = le16(b + 14), fats = b[16];
	uint64_t total = le16(b + 19) ? le16(b + 19) : le32(b + 32);
	uint64_t fatsz = le16(b + 22) ? le16(b + 22) : le32(b + 36);
	uint64_t rootsec = (le16(b + 17) * 32ULL + bps - 1) / (bps ? bps : 1);
	if (bps < 512 || bps > 4096 || (bps & (bps - 1)) || !spc || (spc & (spc - 1)) ||
	    !reserved || !fats || !fatsz)
		return false;
	uint64_t meta = reserved + fats * fatsz + rootsec;
	if (meta >= total)
		return false;
	uint64_t clusters = (total - meta) / spc, nfree;
	unsigned bits = clusters < 4085 ? 12 : clusters < 65525 ? 16 : 32;
	if (!fat_free(fd, (uint64_t)reserved * bps, clusters, bits, &nfree))
		return false;
	c->block_size = (uint64_t)bps * spc;
	c->size = clusters * c->block_size;
	c->free = nfree * c->block_size;
	c->used = c->size - c->free;
	c->has_free = true;
	return true;
}

/* The counts in the superblock of @path, a filesystem of @type (libblkid's
 * name); false if it cannot be read or plumb does not know the type. */
static bool sb_count(const char *path, const char *type, struct fscount *c)
{
	static const struct {
		const char *type;
		bool (*count)(int fd, struct fscount *c);
	} readers[] = {{"ext2", ext_count},    {"ext3", ext_count}, {"ext4", ext_count},
	               {"btrfs", btrfs_count}, {"xfs", xfs_count},  {"vfat", fat_count}};
	for (size_t i = 0; i < sizeof readers / sizeof readers[0]; i++) {
		if (strcmp(type, readers[i].type))
			continue;
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return false;
		bool ok = readers[i].count(fd, c);
		close(fd);
		return ok;
	}
	return false;
}

/* The kernel's counts of a mounted filesystem, as df shows them. */
static void vfs_count(const struct statvfs *v, struct fscount *c)
{
	c->size = (uint64_t)v->f_blocks * v->f_frsize;
	c->used = (uint64_t)(v->f_blocks - v->f_bfree) * v->f_frsize;
	c->free = (uint64_t)v->f_bavail * v->f_frsize;
	c->has_free = true;
	c->block_size = v->f_bsize;
	c->inodes = v->f_files;
	c->free_inodes = v->f_ffree;
	c->has_inodes = v->f_files > 0; /* btrfs and FAT have no fixed count */
}

/* ---- create ---- */

static int make_file(const char *file, uint64_t size, bool allocate, struct undo *u)
{
	int fd = open(file, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		warnx_("%s: %s", file, errno == EEXIST ? "already exists" : strerror(errno));
		return -1;
	}
	u->file = file;
	int e = allocate ? posix_fallocate(fd, 0, (off_t)size)
	                 : (ftruncate(fd, (off_t)size) ? errno : 0);
	close(fd);
	if (e) {
		warnx_("%s: cannot make it %llu bytes: %s", file, (unsigned long long)size,
		       strerror(e));
		return -1;
	}
	return 0;
}

static int do_mount(const char *dev, const char *dir, const char *fstype, bool ro, struct undo *u)
{
	if (mount(dev, dir, fstype, ro ? MS_RDONLY : 0, NULL) < 0) {
		int e = errno;
		if (e == ENOTDIR)
			warnx_("%s: not a directory", dir);
		else if (e == ENOENT)
			warnx_("%s: no such directory", dir);
		else if (e == ENODEV)
			warnx_("cannot mount %s on %s: this kernel has no %s driver "
			       "(see /proc/filesystems)",
			       dev, dir, fstype);
		else
			warnx_("cannot mount %s (%s) on %s: %s", dev, fstype, dir, strerror(e));
		return -1;
	}
	u->dir = dir;
	return 0;
}

static void print_summary(const char *dev, const char *dir)
{
	struct probe p;
	probe(dev, &p);
	struct plumb_loop_info info;
	char size[32] = "?";
	if (plumb_loop_info(dev, &info) == 0)
		format_bytes(size, sizeof size, (double)info.size);
	printf("device: %s\nfilesystem: %s\nuuid: %s\n", dev, p.type, p.uuid);
	if (p.label[0])
		printf("label: %s\n", p.label);
	printf("size: %s\n", size);
	if (dir)
		printf("mounted: %s\n", dir);
}

static int create(int argc, char **argv)
{
	static const struct option lo[] = {{"size", required_argument, NULL, 's'},
	                                   {"fs", required_argument, NULL, 't'},
	                                   {"label", required_argument, NULL, 'L'},
	                                   {"mount", required_argument, NULL, 'm'},
	                                   {"allocate", no_argument, NULL, 'a'},
	                                   {"keep", no_argument, NULL, 'k'},
	                                   {NULL, 0, NULL, 0}};
	uint64_t size = 0;
	const char *fs = "ext4", *label = NULL, *dir = NULL;
	struct undo u = {0};
	bool allocate = false;
	int c;
	while ((c = getopt_long(argc, argv, "s:t:L:m:ak", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			if (!parse_size(optarg, &size) || size == 0) {
				warnx_("invalid size: '%s'", optarg);
				return 1;
			}
			break;
		case 't':
			fs = optarg;
			break;
		case 'L':
			label = optarg;
			break;
		case 'm':
			dir = optarg;
			break;
		case 'a':
			allocate = true;
			break;
		case 'k':
			u.keep = true;
			break;
		default:
			return 1;
		}
	}
	if (optind + 1 != argc || !size) {
		warnx_("usage: plumb image create FILE --size SIZE [--fs TYPE] [--label L] "
		       "[--mount DIR] [--allocate] [--keep]");
		return 1;
	}
	if (strchr(fs, '/') || strlen(fs) > 16) {
		warnx_("invalid filesystem type: '%s'", fs);
		return 1;
	}
	const char *file = argv[optind];
	if (make_file(file, size, allocate, &u) < 0)
		goto fail;
	if (plumb_loop_attach(file, NULL, u.dev, sizeof u.dev) < 0) {
		warnx_("%s", plumb_loop_errmsg());
		goto fail;
	}
	if (run_mkfs(fs, label, u.dev, allocate) < 0)
		goto fail;
	if (dir && do_mount(u.dev, dir, fs, false, &u) < 0)
		goto fail;
	print_summary(u.dev, dir);
	return 0;
fail:
	rollback(&u);
	return 1;
}

/* ---- mount / umount ---- */

static int mount_cmd(int argc, char **argv)
{
	static const struct option lo[] = {{"read-only", no_argument, NULL, 'r'},
	                                   {"type", required_argument, NULL, 't'},
	                                   {NULL, 0, NULL, 0}};
	struct plumb_loop_config cfg = {0};
	const char *type = NULL;
	int c;
	while ((c = getopt_long(argc, argv, "rt:", lo, NULL)) != -1) {
		if (c == 'r')
			cfg.read_only = true;
		else if (c == 't')
			type = optarg;
		else
			return 1;
	}
	if (optind + 2 != argc) {
		warnx_("usage: plumb image mount [-r] [-t TYPE] FILE DIR");
		return 1;
	}
	const char *file = argv[optind], *dir = argv[optind + 1];
	struct undo u = {.keep = true};
	struct probe p;
	if (!type) {
		if (probe(file, &p) < 0 || !p.found || !p.type[0]) {
			warnx_("%s: no filesystem found (give -t TYPE if blkid cannot tell)", file);
			return 1;
		}
		type = p.type;
	}
	if (plumb_loop_attach(file, &cfg, u.dev, sizeof u.dev) < 0) {
		warnx_("%s", plumb_loop_errmsg());
		return 1;
	}
	if (do_mount(u.dev, dir, type, cfg.read_only, &u) < 0) {
		rollback(&u);
		return 1;
	}
	printf("%s\n", u.dev);
	return 0;
}

static int by_dir(const struct mnt *m, void *arg)
{
	struct mnt *want = arg;
	if (!strcmp(m->dir, want->dir)) {
		*want = *m;
		return 1;
	}
	return 0;
}

/* The loop device mounted as @m into @dev: its source when that is a loop
 * device, else the one its major:minor names; false if neither is one. */
static bool loop_of_mount(const struct mnt *m, char *dev, size_t len)
{
	dev_t d;
	if (source_dev(m, &d) && major(d) == LOOP_MAJOR) {
		snprintf(dev, len, "%s", m->source);
		return true;
	}
	if (m->major != LOOP_MAJOR)
		return false;
	snprintf(dev, len, "/dev/loop%u", m->minor);
	return true;
}

/* Unmounts every mount of @dev and detaches it; 0 or 1 (exit status). */
static int release(const char *dev)
{
	struct plumb_loop_info info;
	if (plumb_loop_info(dev, &info) < 0) {
		warnx_("%s", plumb_loop_errmsg());
		return 1;
	}
	struct mounts_of *mo = calloc(1, sizeof *mo);
	if (!mo)
		return 1;
	mo->major = info.major;
	mo->minor = info.minor;
	each_mount(collect_mount, mo);
	int st = 0;
	for (int i = mo->n - 1; i >= 0 && !st; i--) {
		if (umount2(mo->dirs[i], 0) < 0) {
			warnx_("cannot unmount %s: %s%s", mo->dirs[i], strerror(errno),
			       errno == EBUSY ? " (a process uses it; see fuser -m)" : "");
			st = 1;
		}
	}
	free(mo);
	if (!st && plumb_loop_detach_wait(dev, 5000) < 0) {
		warnx_("%s", plumb_loop_errmsg());
		st = 1;
	}
	return st;
}

static int release_each(const struct plumb_loop_info *info, void *arg)
{
	int *st = arg;
	*st |= release(info->name);
	return 0;
}

static int umount_cmd(int argc, char **argv)
{
	if (argc != 2) {
		warnx_("usage: plumb image umount DIR|FILE|DEVICE");
		return 1;
	}
	const char *what = argv[1];
	struct stat st;
	if (stat(what, &st) < 0) {
		warnx_("%s: %s", what, strerror(errno));
		return 1;
	}
	if (S_ISBLK(st.st_mode))
		return release(what);
	if (S_ISREG(st.st_mode)) {
		int status = 0;
		int n = plumb_loop_find_by_file(what, false, 0, release_each, &status);
		if (n == 0) {
			warnx_("%s: not attached to any loop device", what);
			return 1;
		}
		return n < 0 ? 1 : status;
	}
	struct mnt *want = calloc(1, sizeof *want);
	char *real = realpath(what, NULL);
	if (!want || !real) {
		free(want);
		free(real);
		return 1;
	}
	snprintf(want->dir, sizeof want->dir, "%s", real);
	free(real);
	char dev[4096];
	bool found = each_mount(by_dir, want) == 1 && loop_of_mount(want, dev, sizeof dev);
	free(want);
	if (!found) {
		warnx_("%s: not a mount point of a loop device", what);
		return 1;
	}
	return release(dev);
}

/* ---- info / list ---- */

/* "what: 1.5 MiB", or with @bytes "what: 1572864". */
static void print_size(const char *what, uint64_t n, bool bytes)
{
	char buf[32];
	if (bytes)
		snprintf(buf, sizeof buf, "%llu", (unsigned long long)n);
	else
		format_bytes(buf, sizeof buf, (double)n);
	printf("%s: %s\n", what, buf);
}

static int first_device(const struct plumb_loop_info *info, void *arg)
{
	snprintf(arg, 32, "%s", info->name);
	return 1;
}

/* Where the loop device @what (or the first device backed by the file
 * @what) is mounted, into @dir; false if it is not. */
static bool mounted_dir(const char *what, char *dir, size_t len)
{
	struct stat st;
	char dev[32] = "";
	if (stat(what, &st) < 0)
		return false;
	if (S_ISBLK(st.st_mode))
		snprintf(dev, sizeof dev, "%s", what);
	else if (plumb_loop_find_by_file(what, false, 0, first_device, dev) <= 0)
		return false;
	struct plumb_loop_info info;
	struct mounts_of *mo = calloc(1, sizeof *mo);
	bool found = false;
	if (mo && plumb_loop_info(dev, &info) == 0) {
		mo->major = info.major;
		mo->minor = info.minor;
		each_mount(collect_mount, mo);
		if (mo->n) {
			snprintf(dir, len, "%s", mo->dirs[0]);
			found = true;
		}
	}
	free(mo);
	return found;
}

static int info_cmd(int argc, char **argv)
{
	static const struct option lo[] = {{"bytes", no_argument, NULL, 'b'}, {NULL, 0, NULL, 0}};
	bool bytes = false;
	int o;
	while ((o = getopt_long(argc, argv, "b", lo, NULL)) != -1) {
		if (o != 'b')
			return 1;
		bytes = true;
	}
	if (optind + 1 != argc) {
		warnx_("usage: plumb image info [--bytes] FILE|DEVICE");
		return 1;
	}
	const char *what = argv[optind];
	struct probe p;
	if (access(what, R_OK) < 0) {
		warnx_("%s: %s", what, strerror(errno));
		return 1;
	}
	if (probe(what, &p) < 0 || !p.found) {
		warnx_("%s: no filesystem found", what);
		return 1;
	}
	printf("filesystem: %s\n", p.type);
	if (p.version[0])
		printf("version: %s\n", p.version);
	printf("uuid: %s\nlabel: %s\n", p.uuid, p.label);

	struct fscount c = {.state = -1};
	bool known = sb_count(what, p.type, &c);
	char dir[4096];
	struct statvfs vfs;
	bool mounted = mounted_dir(what, dir, sizeof dir) && statvfs(dir, &vfs) == 0;
	if (mounted) {
		/* The kernel's counts are current; a mounted superblock's may lag.
		 * The state stays the superblock's. */
		struct fscount k = {.state = c.state};
		vfs_count(&vfs, &k);
		c = k;
	} else if (!known) {
		c.block_size = p.block_size; /* libblkid's, all there is */
	}
	if (c.size) {
		print_size("size", c.size, bytes);
		print_size("used", c.used, bytes);
		if (c.has_free)
			print_size("free", c.free, bytes);
	}
	if (c.block_size)
		printf("block size: %llu\n", (unsigned long long)c.block_size);
	if (c.has_inodes)
		printf("inodes: %llu\nfree inodes: %llu\n", (unsigned long long)c.inodes,
		       (unsigned long long)c.free_inodes);
	if (c.state >= 0)
		printf("state: %s\n", c.state == 2   ? "with errors"
		                      : c.state == 1 ? "clean"
		                                     : "not clean");
	if (mounted)
		printf("mounted: %s\n", dir);
	return 0;
}

struct list_ctx {
	bool json;
	int n;
};

static void jstr(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		if ((unsigned char)*s < 0x20)
			printf("\\u%04x", *s);
		else
			putchar(*s);
	}
	putchar('"');
}

static int list_one(const struct plumb_loop_info *d, void *arg)
{
	struct list_ctx *c = arg;
	struct mounts_of *mo = calloc(1, sizeof *mo);
	if (!mo)
		return -ENOMEM;
	mo->major = d->major;
	mo->minor = d->minor;
	each_mount(collect_mount, mo);
	if (c->json) {
		printf("%s\n      {\"device\": ", c->n ? "," : "");
		jstr(d->name);
		printf(", \"file\": ");
		jstr(d->back_file);
		printf(", \"fstype\": ");
		if (mo->n)
			jstr(mo->fstype);
		else
			printf("null");
		printf(", \"mountpoints\": [");
		for (int i = 0; i < mo->n; i++) {
			printf("%s", i ? ", " : "");
			jstr(mo->dirs[i]);
		}
		printf("]}");
	} else {
		printf("%-12s %-8s %s %s\n", d->name, mo->n ? mo->fstype : "-",
		       mo->n ? mo->dirs[0] : "-", d->back_file);
	}
	c->n++;
	free(mo);
	return 0;
}

static int list_cmd(int argc, char **argv)
{
	struct list_ctx c = {0};
	if (argc == 2 && !strcmp(argv[1], "--json"))
		c.json = true;
	else if (argc != 1) {
		warnx_("usage: plumb image list [--json]");
		return 1;
	}
	if (c.json)
		printf("{\n   \"images\": [");
	else
		printf("%-12s %-8s %s %s\n", "DEVICE", "FSTYPE", "MOUNTPOINT", "FILE");
	int r = plumb_loop_foreach(list_one, &c);
	if (c.json)
		printf("%s]\n}\n", c.n ? "\n   " : "");
	if (r < 0) {
		warnx_("%s", plumb_loop_errmsg());
		return 1;
	}
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "Usage: plumb image create FILE --size SIZE [--fs TYPE] [--label L] [--mount DIR]\n"
	        "                          [--allocate] [--keep]\n"
	        "       plumb image mount [-r] [-t TYPE] FILE DIR\n"
	        "       plumb image umount DIR|FILE|DEVICE\n"
	        "       plumb image info [--bytes] FILE|DEVICE\n"
	        "       plumb image list [--json]\n\n"
	        "A file as a filesystem: create, attach, mkfs, mount, and back.\n"
	        "If a step fails, the steps before it are undone.  See plumb-image(1).\n");
}

int cmd_image(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	const char *sub = argv[1] ? argv[1] : "";
	if (!strcmp(sub, "--help") || !strcmp(sub, "-h")) {
		usage(stdout);
		return 0;
	}
	static char name[64];
	snprintf(name, sizeof name, "%s %s", prog_name, sub);
	argv[1] = name;
	if (!strcmp(sub, "create"))
		return create(argc - 1, argv + 1);
	if (!strcmp(sub, "mount"))
		return mount_cmd(argc - 1, argv + 1);
	if (!strcmp(sub, "umount"))
		return umount_cmd(argc - 1, argv + 1);
	if (!strcmp(sub, "info"))
		return info_cmd(argc - 1, argv + 1);
	if (!strcmp(sub, "list"))
		return list_cmd(argc - 1, argv + 1);
	warnx_("unknown subcommand '%s'", sub);
	usage(stderr);
	return 1;
}
