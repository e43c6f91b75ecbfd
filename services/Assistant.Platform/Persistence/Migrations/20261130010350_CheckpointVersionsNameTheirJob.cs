using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Assistant.Platform.Persistence.Migrations
{
    /// <inheritdoc />
    public partial class CheckpointVersionsNameTheirJob : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_model_versions_job_id",
                table: "model_versions");

            migrationBuilder.CreateIndex(
                name: "ix_model_versions_job_id",
                table: "model_versions",
                column: "job_id",
                unique: true,
                filter: "source = 'job'");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_model_versions_job_id",
                table: "model_versions");

            migrationBuilder.CreateIndex(
                name: "ix_model_versions_job_id",
                table: "model_versions",
                column: "job_id",
                unique: true);
        }
    }
}
