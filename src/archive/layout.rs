//! Where things live inside an archive (layout version 1), and the README.txt it carries.

/// The layout version, recorded in the manifest's `schema` and the seal.
pub const LAYOUT_VERSION: u32 = 1;
/// The manifest's `format` value.
pub const FORMAT_NAME: &str = "qqvault-archive";
/// The first entry: what this archive is, for a person with only an unzip tool.
pub const README_ENTRY: &str = "README.txt";
/// The last entry.
pub const MANIFEST_ENTRY: &str = "manifest.json";
/// Originals, byte for byte, under their input's top folder.
pub const FILES_PREFIX: &str = "files/";
/// Parsed conversations: `chats/<id>/messages.jsonl` and `chats/<id>/transcript.txt`.
pub const CHATS_PREFIX: &str = "chats/";
/// Embedded images pulled out of exports that no original file already holds:
/// `media/<sha256>.<ext>`.
pub const MEDIA_PREFIX: &str = "media/";
/// The search index, one Stored entry per index file.
pub const INDEX_PREFIX: &str = "index/";
/// UTF-8 renditions of chat exports that were in another encoding: `text/<top>/<rel>`.
pub const TEXT_PREFIX: &str = "text/";
/// The conversations as static web pages (see `crate::viewer`), `viewer/index.html` first.
pub const VIEWER_PREFIX: &str = "viewer/";

pub fn file_entry(archive_path: &str) -> String {
    format!("{FILES_PREFIX}{archive_path}")
}

pub fn readme_text(version: &str) -> String {
    format!(
        "qqvault 归档 / qqvault archive (layout {LAYOUT_VERSION}, written by qqvault {version})\r\n\
\r\n\
这是一个标准 ZIP 文件，任何解压工具都能打开。\r\n\
- files/      原始文件，逐字节保存，保留原来的相对路径（内容相同的文件只存一份，\r\n\
              其余路径记录在 manifest.json 中，用 qqvault restore 可全部恢复）。\r\n\
- chats/      解析出的聊天记录：每个会话一个文件夹，messages.jsonl（JSON Lines）\r\n\
              和 transcript.txt（UTF-8 文本）。\r\n\
- media/      从 MHT 导出中取出的图片，按 SHA-256 命名。\r\n\
- text/       非 UTF-8 编码的聊天导出的 UTF-8 版本。\r\n\
- index/      全文搜索索引（qqvault search 使用）。\r\n\
- viewer/     网页版聊天记录：解压后用浏览器打开 viewer/index.html，离线可看，无需 qqvault。\r\n\
- manifest.json  清单：每个文件的路径、大小、修改时间和 SHA-256，最后一个条目。\r\n\
ZIP 注释是封印：qqvault-seal 记录，含此前所有字节的 SHA-256。\r\n\
\r\n\
不用 qqvault 也能检查：\r\n\
  unzip -t 归档.zip             检查每个条目的 CRC\r\n\
  解压后用 sha256sum 对照 manifest.json 中 entries 的 sha256\r\n\
\r\n\
This is a standard ZIP file; any unzip tool opens it.\r\n\
- files/      the original files, byte for byte, under their original relative paths (each\r\n\
              distinct content is stored once; the other paths are in manifest.json and\r\n\
              `qqvault restore` brings them all back).\r\n\
- chats/      parsed conversations: one folder each, messages.jsonl (JSON Lines) and\r\n\
              transcript.txt (UTF-8).\r\n\
- media/      images taken out of MHT exports, named by SHA-256.\r\n\
- text/       UTF-8 renditions of chat exports written in another encoding.\r\n\
- index/      the full-text search index (used by `qqvault search`).\r\n\
- viewer/     the conversations as web pages: unzip, then open viewer/index.html in any\r\n\
              browser (works offline, without qqvault).\r\n\
- manifest.json  every file's path, size, modification time and SHA-256; the last entry.\r\n\
The zip comment is the seal: a qqvault-seal record holding the SHA-256 of every byte before it.\r\n\
\r\n\
To check it without qqvault:\r\n\
  unzip -t ARCHIVE.zip          tests every entry's CRC\r\n\
  unzip, then compare each entry with the sha256 listed under \"entries\" in manifest.json\r\n\
  (sha256sum, or any SHA-256 tool).\r\n"
    )
}
