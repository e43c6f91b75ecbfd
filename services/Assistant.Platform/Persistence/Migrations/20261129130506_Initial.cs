using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Assistant.Platform.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "content_blobs",
                columns: table => new
                {
                    sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    object_key = table.Column<string>(type: "character varying(512)", maxLength: 512, nullable: false),
                    size_bytes = table.Column<long>(type: "bigint", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_content_blobs", x => x.sha256);
                });

            migrationBuilder.CreateTable(
                name: "datasets",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    description = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true),
                    created_by = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_datasets", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "workers",
                columns: table => new
                {
                    id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    hostname = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: false),
                    process_id = table.Column<int>(type: "integer", nullable: false),
                    platform_version = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    device = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    state = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    registered_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    last_heartbeat_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_workers", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "dataset_versions",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    dataset_id = table.Column<Guid>(type: "uuid", nullable: false),
                    version = table.Column<int>(type: "integer", nullable: false),
                    origin = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    parent_version = table.Column<int>(type: "integer", nullable: true),
                    message = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true),
                    format = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    size_bytes = table.Column<long>(type: "bigint", nullable: false),
                    examples = table.Column<long>(type: "bigint", nullable: false),
                    tokens = table.Column<long>(type: "bigint", nullable: false),
                    tokenizer = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    statistics = table.Column<string>(type: "jsonb", nullable: false),
                    derivation = table.Column<string>(type: "jsonb", nullable: true),
                    source_file_name = table.Column<string>(type: "character varying(255)", maxLength: 255, nullable: true),
                    created_by = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_dataset_versions", x => x.id);
                    table.ForeignKey(
                        name: "fk_dataset_versions_datasets_dataset_id",
                        column: x => x.dataset_id,
                        principalTable: "datasets",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "dataset_splits",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    dataset_version_id = table.Column<Guid>(type: "uuid", nullable: false),
                    seed = table.Column<int>(type: "integer", nullable: false),
                    train_ratio = table.Column<double>(type: "double precision", nullable: false),
                    validation_ratio = table.Column<double>(type: "double precision", nullable: false),
                    test_ratio = table.Column<double>(type: "double precision", nullable: false),
                    train_sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    validation_sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    test_sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    train_examples = table.Column<long>(type: "bigint", nullable: false),
                    validation_examples = table.Column<long>(type: "bigint", nullable: false),
                    test_examples = table.Column<long>(type: "bigint", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_dataset_splits", x => x.id);
                    table.ForeignKey(
                        name: "fk_dataset_splits_dataset_versions_dataset_version_id",
                        column: x => x.dataset_version_id,
                        principalTable: "dataset_versions",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "dataset_version_usages",
                columns: table => new
                {
                    dataset_version_id = table.Column<Guid>(type: "uuid", nullable: false),
                    used_by_kind = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    used_by_id = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_dataset_version_usages", x => new { x.dataset_version_id, x.used_by_kind, x.used_by_id });
                    table.ForeignKey(
                        name: "fk_dataset_version_usages_dataset_versions_dataset_version_id",
                        column: x => x.dataset_version_id,
                        principalTable: "dataset_versions",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateIndex(
                name: "ix_dataset_splits_dataset_version_id_seed_train_ratio_validati",
                table: "dataset_splits",
                columns: new[] { "dataset_version_id", "seed", "train_ratio", "validation_ratio", "test_ratio" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_dataset_versions_dataset_id_version",
                table: "dataset_versions",
                columns: new[] { "dataset_id", "version" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_dataset_versions_sha256",
                table: "dataset_versions",
                column: "sha256");

            migrationBuilder.CreateIndex(
                name: "ix_datasets_name",
                table: "datasets",
                column: "name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_workers_last_heartbeat_at",
                table: "workers",
                column: "last_heartbeat_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "content_blobs");

            migrationBuilder.DropTable(
                name: "dataset_splits");

            migrationBuilder.DropTable(
                name: "dataset_version_usages");

            migrationBuilder.DropTable(
                name: "workers");

            migrationBuilder.DropTable(
                name: "dataset_versions");

            migrationBuilder.DropTable(
                name: "datasets");
        }
    }
}
